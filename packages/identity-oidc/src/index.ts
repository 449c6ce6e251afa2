export { oidcAuthenticator, OidcLookupError, DEFAULT_ALGORITHMS } from './oidc.js';
export type { OidcIssuerConfig, OidcOptions } from './oidc.js';
export { identityFromClaims, subjectOf, groupsOf, actorsOf, ClaimError, MAX_ACTOR_DEPTH } from './claims.js';
export type { ClaimMapping } from './claims.js';
export { openDelegationIssuer, rotateDelegationKey, DelegationError, DELEGATION_KEY_FILE } from './issuer.js';
export type { DelegationIssuer, DelegationIssuerOptions, DelegateRequest } from './issuer.js';
