export { createMasker, type MaskerOptions } from './masker.js';
export { detectors, NO_SPANS, type Detector, type Span } from './detectors.js';
export { parseColumnPattern, columnMatches, coveredBy, type ColumnPattern } from './columns.js';
export { keyedHash, partialMask, partialEmail, REDACTED, redactedMarker } from './strategies.js';
export { derivedColumn, derivedFrom, type Derived, type ExpandColumn, type ExpandRow } from './derived.js';
export { maskMessage } from './messages.js';
export { ANY_COLUMN, CatalogLineage, identifierPattern, sameTable, type Carrier, type FunctionDefinition, type FunctionLineage } from './lineage.js';
