/**
 * Schema and FAKE data for the `sluice demo` shop database.
 *
 * Everything is generated from a small seeded PRNG, so the same seed always
 * yields byte-identical SQL (no faker dependency, no clock, no randomness
 * from the environment). The data is made to *look* real enough for the
 * gateway's value detectors to fire, while being fake by construction:
 *
 * - emails only on example.com / example.org / example.net (RFC 2606);
 * - phone numbers only in ranges reserved for fiction: North American
 *   NXX-555-0100..0199 and UK Ofcom drama numbers 07700 900000..900999;
 * - SSNs syntactically valid (area 001-899 but never 000/666, group 01-99,
 *   serial 0001-9999) so an SSN detector treats them as SSNs;
 * - card numbers Luhn-valid, built on well-known payment-processor TEST
 *   prefixes (4242 42, 4000 00, 5555 55, 2223 00, 3782 82, 6011 11 …);
 * - IBANs (UK customers only) with correct ISO 13616 mod-97 check digits.
 */

export const DEMO_SEED = 0x5eed_2025;

export interface DemoCustomer {
  id: number;
  fullName: string;
  email: string;
  phone: string;
  ssn: string | null;
  dateOfBirth: string; // YYYY-MM-DD
  address: string; // street line
  city: string;
  region: string;
  postalCode: string;
  country: 'US' | 'CA' | 'GB';
  createdAt: string; // ISO timestamp, UTC
  passwordHash: string;
}

export interface DemoPaymentMethod {
  id: number;
  customerId: number;
  kind: 'card' | 'bank_account';
  cardNumber: string | null; // digits only
  cardBrand: 'visa' | 'mastercard' | 'amex' | 'discover' | null;
  expiry: string | null; // MM/YY
  iban: string | null; // compact, no spaces
  holderName: string;
  isDefault: boolean;
}

export interface DemoProduct {
  id: number;
  sku: string;
  name: string;
  category: string;
  priceCents: number;
  stock: number;
}

export interface DemoOrder {
  id: number;
  customerId: number;
  totalCents: number;
  status: 'pending' | 'paid' | 'shipped' | 'delivered' | 'cancelled' | 'refunded';
  createdAt: string;
  shippingAddress: string;
}

export interface DemoOrderItem {
  id: number;
  orderId: number;
  productId: number;
  quantity: number;
  unitPriceCents: number;
}

export interface DemoSupportTicket {
  id: number;
  customerId: number;
  subject: string;
  body: string;
  status: 'open' | 'pending' | 'solved' | 'closed';
  createdAt: string;
}

export interface DemoData {
  customers: DemoCustomer[];
  paymentMethods: DemoPaymentMethod[];
  products: DemoProduct[];
  orders: DemoOrder[];
  orderItems: DemoOrderItem[];
  supportTickets: DemoSupportTicket[];
}

export const DEMO_CUSTOMER_COUNT = 50;
export const DEMO_ORDER_COUNT = 200;

// ---------------------------------------------------------------------------
// PRNG (mulberry32) and helpers

type Rng = () => number;

function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Gen {
  constructor(private readonly rng: Rng) {}
  /** Integer in [min, max], both inclusive. */
  int(min: number, max: number): number {
    return min + Math.floor(this.rng() * (max - min + 1));
  }
  chance(p: number): boolean {
    return this.rng() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.rng() * items.length)];
  }
  weighted<T>(items: readonly (readonly [T, number])[]): T {
    const total = items.reduce((s, [, w]) => s + w, 0);
    let r = this.rng() * total;
    for (const [item, w] of items) {
      r -= w;
      if (r < 0) return item;
    }
    return items[items.length - 1][0];
  }
  digits(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += String(this.int(0, 9));
    return s;
  }
  letters(n: number, alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'): string {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[this.int(0, alphabet.length - 1)];
    return s;
  }
  /** Distinct picks, in pick order. */
  sample<T>(items: readonly T[], n: number): T[] {
    const pool = [...items];
    const out: T[] = [];
    while (out.length < n && pool.length > 0) out.push(pool.splice(this.int(0, pool.length - 1), 1)[0]);
    return out;
  }
  /** Uniform timestamp between two epoch-millisecond bounds, second precision. */
  time(fromMs: number, toMs: number): number {
    return Math.floor((fromMs + this.rng() * (toMs - fromMs)) / 1000) * 1000;
  }
}

const pad = (n: number, w: number) => String(n).padStart(w, '0');

function isoTimestamp(ms: number): string {
  const d = new Date(ms);
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)} ` +
    `${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}+00`
  );
}

/** Inverse of isoTimestamp. */
function parseTs(ts: string): number {
  return Date.parse(ts.replace(' ', 'T').replace('+00', 'Z'));
}

function isoDate(ms: number): string {
  return isoTimestamp(ms).slice(0, 10);
}

// ---------------------------------------------------------------------------
// Check digits

/** Luhn check digit for a string of digits (the payload without the check digit). */
function luhnCheckDigit(payload: string): string {
  let sum = 0;
  for (let i = 0; i < payload.length; i++) {
    // Walking from the right, the digit next to the (future) check digit is doubled.
    let d = payload.charCodeAt(payload.length - 1 - i) - 48;
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return String((10 - (sum % 10)) % 10);
}

/** ISO 7064 mod 97-10 remainder of an alphanumeric string (letters A=10 … Z=35). */
function mod97(s: string): number {
  let rem = 0;
  for (const ch of s) {
    const code = ch.charCodeAt(0);
    const val = code >= 65 ? String(code - 55) : ch;
    for (const d of val) rem = (rem * 10 + (d.charCodeAt(0) - 48)) % 97;
  }
  return rem;
}

function makeIban(country: string, bban: string): string {
  const check = 98 - mod97(bban + country + '00');
  return country + pad(check, 2) + bban;
}

// ---------------------------------------------------------------------------
// Vocabulary

const FIRST_NAMES = [
  'Olivia', 'Liam', 'Amara', 'Noah', 'Priya', 'Mateo', 'Sofia', 'Ethan', 'Chloé', 'Kenji',
  'Hannah', 'Diego', 'Aisha', 'Lucas', 'Mei', 'Samuel', 'Fatima', 'Oscar', 'Ingrid', 'Tomás',
  'Grace', 'Ravi', 'Eleanor', 'Malik', 'Zoe', 'Henrik', 'Leila', 'Marcus', 'Nadia', 'Owen',
  'Yuki', 'Isabel', 'Callum', 'Ana', 'Jamal', 'Freya', 'Daniel', 'Siobhan', 'Wei', 'Rosa',
  'Felix', 'Amélie', 'Jonah', 'Imani', 'Arjun', 'Clara', 'Tobias', 'Nia', 'Hugo', 'Maya',
] as const;

const LAST_NAMES = [
  'Okafor', 'Lindqvist', 'Hernández', 'Chen', 'Patel', "O'Brien", 'Novak', 'Kowalski', 'Nakamura', 'Fischer',
  'Baptiste', 'Ramírez', 'Walsh', 'Haddad', 'Johansson', 'Mensah', 'Rossi', 'Dubois', 'Kaur', 'Silva',
  'Thompson', 'Müller', 'Nguyen', 'Abernathy', 'Castillo', 'Sørensen', 'Kim', 'MacLeod', 'Adeyemi', 'Brennan',
  'Schwartz', 'Moreau', 'Tanaka', 'Petrova', 'Gallagher', 'Oyelaran', 'Whitfield', 'Santos', 'Varga', 'Harrington',
] as const;

const STREET_NAMES = [
  'Maple', 'Oak', 'Cedar', 'Willow', 'Lakeview', 'Hillcrest', 'Juniper', 'Harbor', 'Chestnut', 'Birch',
  'Meadow', 'Riverside', 'Sycamore', 'Orchard', 'Highland', 'Linden', 'Aspen', 'Foxglove', 'Kingfisher', 'Elm',
] as const;

interface City {
  city: string;
  region: string;
  country: 'US' | 'CA' | 'GB';
  areaCode?: string; // NANP only
  postal: (g: Gen) => string;
}

const zip = (prefix: string) => (g: Gen) => prefix + g.digits(5 - prefix.length);
const caPostal = (first: string) => (g: Gen) =>
  `${first}${g.int(1, 9)}${g.letters(1, 'ABCEGHJKLMNPRSTVWXYZ')} ${g.int(0, 9)}${g.letters(1, 'ABCEGHJKLMNPRSTVWXYZ')}${g.int(0, 9)}`;
const ukPostal = (outward: readonly string[]) => (g: Gen) =>
  `${g.pick(outward)} ${g.int(1, 9)}${g.letters(2, 'ABDEFGHJLNPQRSTUWXYZ')}`;

const CITIES: readonly City[] = [
  { city: 'New York', region: 'NY', country: 'US', areaCode: '212', postal: zip('100') },
  { city: 'Austin', region: 'TX', country: 'US', areaCode: '512', postal: zip('787') },
  { city: 'Portland', region: 'OR', country: 'US', areaCode: '503', postal: zip('972') },
  { city: 'Chicago', region: 'IL', country: 'US', areaCode: '312', postal: zip('606') },
  { city: 'Denver', region: 'CO', country: 'US', areaCode: '303', postal: zip('802') },
  { city: 'Seattle', region: 'WA', country: 'US', areaCode: '206', postal: zip('981') },
  { city: 'Boston', region: 'MA', country: 'US', areaCode: '617', postal: zip('021') },
  { city: 'Atlanta', region: 'GA', country: 'US', areaCode: '404', postal: zip('303') },
  { city: 'Minneapolis', region: 'MN', country: 'US', areaCode: '612', postal: zip('554') },
  { city: 'Toronto', region: 'ON', country: 'CA', areaCode: '416', postal: caPostal('M') },
  { city: 'Vancouver', region: 'BC', country: 'CA', areaCode: '604', postal: caPostal('V') },
  { city: 'Montréal', region: 'QC', country: 'CA', areaCode: '514', postal: caPostal('H') },
  { city: 'London', region: 'Greater London', country: 'GB', postal: ukPostal(['N1', 'E8', 'SE15', 'NW3', 'SW9']) },
  { city: 'Manchester', region: 'Greater Manchester', country: 'GB', postal: ukPostal(['M4', 'M20']) },
  { city: 'Leeds', region: 'West Yorkshire', country: 'GB', postal: ukPostal(['LS6', 'LS7']) },
  { city: 'Bristol', region: 'Bristol', country: 'GB', postal: ukPostal(['BS6', 'BS8']) },
  { city: 'Edinburgh', region: 'Scotland', country: 'GB', postal: ukPostal(['EH3', 'EH9']) },
];

const COUNTRY_NAME: Record<City['country'], string> = {
  US: 'United States',
  CA: 'Canada',
  GB: 'United Kingdom',
};

const EMAIL_DOMAINS = ['example.com', 'example.org', 'example.net', 'mail.example.com'] as const;

// Well-known test prefixes of payment processors, so the numbers look real
// (right brand, right length, Luhn-valid) without being anyone's card.
const CARD_PREFIXES: Record<'visa' | 'mastercard' | 'amex' | 'discover', { prefixes: string[]; length: number }> = {
  visa: { prefixes: ['424242', '400000', '411111', '401288'], length: 16 },
  mastercard: { prefixes: ['555555', '222300', '510510', '520082'], length: 16 },
  amex: { prefixes: ['378282', '371449', '378734'], length: 15 },
  discover: { prefixes: ['601111', '601100'], length: 16 },
};

const UK_BANK_CODES = ['NWBK', 'BARC', 'LOYD', 'HBUK', 'MIDL'] as const;

const PRODUCTS: readonly (readonly [string, string, number])[] = [
  ['Trail Running Shoes', 'footwear', 12900],
  ['Merino Wool Beanie', 'apparel', 2800],
  ['Waterproof Shell Jacket', 'apparel', 18900],
  ['Insulated Water Bottle 750 ml', 'outdoor', 3400],
  ['Ceramic Pour-Over Set', 'kitchen', 4600],
  ['Cast Iron Skillet 10"', 'kitchen', 5200],
  ['Bamboo Cutting Board', 'kitchen', 2400],
  ['Noise-Cancelling Headphones', 'electronics', 24900],
  ['USB-C Charging Hub', 'electronics', 4900],
  ['Mechanical Keyboard', 'electronics', 11900],
  ['Linen Duvet Cover', 'home', 13500],
  ['Hand-Thrown Stoneware Mug', 'home', 2200],
  ['Scented Soy Candle', 'home', 1800],
  ['Daypack 22 L', 'outdoor', 8900],
  ['Camping Hammock', 'outdoor', 6400],
  ['Yoga Mat', 'fitness', 5800],
  ['Adjustable Dumbbells', 'fitness', 19900],
  ['Resistance Band Set', 'fitness', 2600],
  ['Hardcover Notebook', 'stationery', 1600],
  ['Fountain Pen', 'stationery', 3900],
  ['Wool Hiking Socks (3 pack)', 'apparel', 2700],
  ['Organic Cotton T-Shirt', 'apparel', 3200],
  ['French Press 1 L', 'kitchen', 3800],
  ['LED Desk Lamp', 'home', 6900],
];

// ---------------------------------------------------------------------------
// Generation

const DAY = 86_400_000;
const T_SHOP_OPENED = Date.UTC(2022, 0, 3);
const T_CUSTOMERS_UNTIL = Date.UTC(2024, 11, 20);
const T_DATA_UNTIL = Date.UTC(2025, 5, 30);

function asciiLower(s: string): string {
  return s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/ø/g, 'o')
    .replace(/ß/g, 'ss')
    .toLowerCase()
    .replace(/[^a-z]/g, '');
}

function makePhone(g: Gen, city: City): string {
  if (city.country === 'GB') return `+44 7700 900${pad(g.int(0, 999), 3)}`;
  return `+1 ${city.areaCode}-555-01${pad(g.int(0, 99), 2)}`;
}

function makeSsn(g: Gen): string {
  let area = g.int(1, 899);
  if (area === 666) area = 667;
  return `${pad(area, 3)}-${pad(g.int(1, 99), 2)}-${pad(g.int(1, 9999), 4)}`;
}

function makeCard(g: Gen, brand: keyof typeof CARD_PREFIXES): string {
  const { prefixes, length } = CARD_PREFIXES[brand];
  const payload = g.pick(prefixes) + g.digits(length - 7);
  return payload + luhnCheckDigit(payload);
}

function makeBcryptHash(g: Gen): string {
  return '$2b$12$' + g.letters(53, './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789');
}

function makeStreet(g: Gen, country: City['country']): string {
  const name = g.pick(STREET_NAMES);
  if (country === 'GB') {
    const suffix = g.pick(['Road', 'Street', 'Lane', 'Gardens', 'Crescent', 'Terrace']);
    return `${g.int(1, 180)} ${name} ${suffix}` + (g.chance(0.25) ? `, Flat ${g.int(1, 24)}` : '');
  }
  const suffix = g.pick(['Street', 'Avenue', 'Drive', 'Lane', 'Boulevard', 'Court', 'Way']);
  return `${g.int(10, 9899)} ${name} ${suffix}` + (g.chance(0.3) ? `, Apt ${g.int(1, 40)}${g.pick(['', 'A', 'B'])}` : '');
}

function oneLineAddress(street: string, c: { city: string; region: string; postalCode: string; country: City['country'] }): string {
  if (c.country === 'GB') return `${street}, ${c.city} ${c.postalCode}, ${COUNTRY_NAME[c.country]}`;
  return `${street}, ${c.city}, ${c.region} ${c.postalCode}, ${COUNTRY_NAME[c.country]}`;
}

export const formatCardSpaced = (n: string): string =>
  n.length === 15 ? `${n.slice(0, 4)} ${n.slice(4, 10)} ${n.slice(10)}` : n.replace(/(\d{4})(?=\d)/g, '$1 ');
export const formatIbanSpaced = (iban: string): string => iban.replace(/(.{4})(?=.)/g, '$1 ');

export function generateDemoData(seed: number = DEMO_SEED): DemoData {
  const g = new Gen(mulberry32(seed));

  // Customers: about 55% US, 15% Canada, 30% UK.
  const customers: DemoCustomer[] = [];
  const usedEmails = new Set<string>();
  const usedNames = new Set<string>();
  for (let id = 1; id <= DEMO_CUSTOMER_COUNT; id++) {
    let first: string;
    let last: string;
    do {
      first = g.pick(FIRST_NAMES);
      last = g.pick(LAST_NAMES);
    } while (usedNames.has(`${first} ${last}`));
    usedNames.add(`${first} ${last}`);

    const country = g.weighted([['US', 55], ['CA', 15], ['GB', 30]] as const);
    const city = g.pick(CITIES.filter((c) => c.country === country));
    const f = asciiLower(first);
    const l = asciiLower(last);
    let local = g.weighted([
      [`${f}.${l}`, 5],
      [`${f}${l}${g.int(1, 99)}`, 2],
      [`${f[0]}.${l}`, 2],
      [`${f}_${l}`, 1],
      [`${l}.${f}`, 1],
    ] as const);
    const domain = g.pick(EMAIL_DOMAINS);
    while (usedEmails.has(`${local}@${domain}`)) local += g.int(0, 9);
    const email = `${local}@${domain}`;
    usedEmails.add(email);

    customers.push({
      id,
      fullName: `${first} ${last}`,
      email,
      phone: makePhone(g, city),
      ssn: country === 'US' ? makeSsn(g) : null,
      dateOfBirth: isoDate(g.time(Date.UTC(1952, 0, 1), Date.UTC(2004, 11, 31))),
      address: makeStreet(g, country),
      city: city.city,
      region: city.region,
      postalCode: city.postal(g),
      country,
      createdAt: isoTimestamp(g.time(T_SHOP_OPENED, T_CUSTOMERS_UNTIL)),
      passwordHash: makeBcryptHash(g),
    });
  }

  // Payment methods: every customer has a card, some a second one; about
  // half of the UK customers also have a bank account (IBAN).
  const paymentMethods: DemoPaymentMethod[] = [];
  for (const c of customers) {
    const cards = g.chance(0.35) ? 2 : 1;
    for (let i = 0; i < cards; i++) {
      const brand = g.weighted(
        c.country === 'US'
          ? ([['visa', 45], ['mastercard', 30], ['amex', 15], ['discover', 10]] as const)
          : ([['visa', 50], ['mastercard', 35], ['amex', 15]] as const),
      );
      paymentMethods.push({
        id: paymentMethods.length + 1,
        customerId: c.id,
        kind: 'card',
        cardNumber: makeCard(g, brand),
        cardBrand: brand,
        expiry: `${pad(g.int(1, 12), 2)}/${pad(g.int(25, 31), 2)}`,
        iban: null,
        holderName: c.fullName,
        isDefault: i === 0,
      });
    }
    if (c.country === 'GB' && g.chance(0.55)) {
      const bban = g.pick(UK_BANK_CODES) + g.digits(6) + g.digits(8);
      paymentMethods.push({
        id: paymentMethods.length + 1,
        customerId: c.id,
        kind: 'bank_account',
        cardNumber: null,
        cardBrand: null,
        expiry: null,
        iban: makeIban('GB', bban),
        holderName: c.fullName,
        isDefault: false,
      });
    }
  }

  const products: DemoProduct[] = PRODUCTS.map(([name, category, priceCents], i) => ({
    id: i + 1,
    sku: `${category.slice(0, 3).toUpperCase()}-${pad(1000 + i * 37, 4)}`,
    name,
    category,
    priceCents,
    stock: g.int(0, 240),
  }));

  // Orders: a few loyal customers order a lot, some never order.
  const weights = customers.map((c) => [c, g.weighted([[0, 2], [1, 6], [3, 4], [8, 1]] as const)] as const);
  const orders: DemoOrder[] = [];
  const orderItems: DemoOrderItem[] = [];
  const ordering = weights.filter(([, w]) => w > 0);
  const drafts: { c: DemoCustomer; t: number }[] = [];
  for (let i = 0; i < DEMO_ORDER_COUNT; i++) {
    const c = g.weighted(ordering);
    drafts.push({ c, t: g.time(parseTs(c.createdAt) + DAY / 4, T_DATA_UNTIL) });
  }
  drafts.sort((a, b) => a.t - b.t);
  for (const { c, t } of drafts) {
    const id = orders.length + 1;
    const itemCount = g.weighted([[1, 5], [2, 4], [3, 2], [4, 1]] as const);
    let totalCents = 0;
    for (const p of g.sample(products, itemCount)) {
      const quantity = g.weighted([[1, 8], [2, 3], [3, 1]] as const);
      const unitPriceCents = g.chance(0.15) ? Math.round(p.priceCents * 0.9) : p.priceCents;
      totalCents += quantity * unitPriceCents;
      orderItems.push({ id: orderItems.length + 1, orderId: id, productId: p.id, quantity, unitPriceCents });
    }
    const ageDays = (T_DATA_UNTIL - t) / DAY;
    const status: DemoOrder['status'] =
      ageDays < 3
        ? g.pick(['pending', 'paid'] as const)
        : ageDays < 10
          ? g.pick(['paid', 'shipped', 'shipped'] as const)
          : g.weighted([['delivered', 78], ['cancelled', 12], ['refunded', 10]] as const);
    const street = g.chance(0.12) ? makeStreet(g, c.country) : c.address; // some are gifts
    orders.push({
      id,
      customerId: c.id,
      totalCents,
      status,
      createdAt: isoTimestamp(t),
      shippingAddress: oneLineAddress(street, c),
    });
  }

  const supportTickets = makeTickets(g, customers, paymentMethods, orders);
  return { customers, paymentMethods, products, orders, orderItems, supportTickets };
}

interface TicketContext {
  c: DemoCustomer;
  first: string;
  card: DemoPaymentMethod | undefined;
  bank: DemoPaymentMethod | undefined;
  order: DemoOrder | undefined;
  g: Gen;
}

type Template = {
  needs?: (x: TicketContext) => boolean;
  subject: string;
  body: (x: TicketContext) => string;
};

// Free-text bodies with PII embedded in prose: what value detectors
// (as opposed to column rules) exist for.
const TEMPLATES: readonly Template[] = [
  {
    subject: "Can't log in to my account",
    body: (x) =>
      `Hi, I've been locked out since yesterday. The login page says ${x.c.email} isn't registered, ` +
      `but I've ordered with it for ages. Please call me back on ${x.c.phone} if that's easier. Thanks, ${x.first}`,
  },
  {
    needs: (x) => !!x.card && !!x.order,
    subject: 'Charged twice',
    body: (x) =>
      `Hello - my card ${formatCardSpaced(x.card!.cardNumber!)} was charged twice for order #${x.order!.id}. ` +
      `The second charge still shows as pending. Can you refund it? You can reach me at ${x.c.email}.`,
  },
  {
    subject: 'Please update my email address',
    body: (x) => {
      const newEmail = `${asciiLower(x.first)}.${x.g.pick(['new', 'home', 'personal'])}${x.g.int(1, 99)}@example.org`;
      return `Please change the email on my account from ${x.c.email} to ${newEmail}. I no longer have access to the old inbox.`;
    },
  },
  {
    needs: (x) => x.c.ssn !== null,
    subject: 'Tax form for affiliate payouts',
    body: (x) =>
      `For the W-9 your team asked for: my SSN is ${x.c.ssn}, legal name ${x.c.fullName}. ` +
      `Let me know if you need anything else.`,
  },
  {
    needs: (x) => !!x.bank && !!x.order,
    subject: 'Refund to my bank account instead',
    body: (x) =>
      `Could you send the refund for order #${x.order!.id} to my bank account rather than the card? ` +
      `IBAN ${formatIbanSpaced(x.bank!.iban!)}, account holder ${x.c.fullName}. Cheers, ${x.first}`,
  },
  {
    needs: (x) => !!x.order,
    subject: 'Wrong size',
    body: (x) =>
      `The item from order #${x.order!.id} is half a size too small. Can I exchange it? ` +
      `Text me on ${x.c.phone} and I'll drop it off.`,
  },
  {
    needs: (x) => !!x.order,
    subject: 'Parcel marked delivered but never arrived',
    body: (x) =>
      `Order #${x.order!.id} shows as delivered but nothing came to ${x.order!.shippingAddress}. ` +
      `None of the neighbours have it either.`,
  },
  {
    needs: (x) => !!x.card,
    subject: 'New card for my subscription',
    body: (x) => {
      const n = x.card!.cardNumber!;
      const dashed = n.length === 16 ? n.replace(/(\d{4})(?=\d)/g, '$1-') : formatCardSpaced(n);
      return (
        `My old card expired. The new one is ${dashed}, expiry ${x.card!.expiry}. ` +
        `Please put the coffee subscription on it. - ${x.c.fullName}`
      );
    },
  },
  {
    subject: 'Delete my account',
    body: (x) =>
      `Please close my account and erase my data. The account email is ${x.c.email} and the phone ` +
      `number on file is ${x.c.phone}. Confirm by email please.`,
  },
  {
    subject: 'Do you ship to Iceland?',
    body: () => `Quick question before I order: do you ship to Reykjavik, and roughly how long does it take?`,
  },
  {
    subject: 'Discount code not working',
    body: () => `The code from your newsletter says it is expired, but the email said it's valid until Sunday.`,
  },
  {
    needs: (x) => x.c.ssn !== null && !!x.card,
    subject: 'Identity check failed at checkout',
    body: (x) =>
      `Your checkout keeps failing the identity check. I entered SSN ${x.c.ssn} and date of birth ` +
      `${x.c.dateOfBirth} with card ${x.card!.cardNumber}. What am I doing wrong?`,
  },
];

function makeTickets(g: Gen, customers: DemoCustomer[], pms: DemoPaymentMethod[], orders: DemoOrder[]): DemoSupportTicket[] {
  const tickets: DemoSupportTicket[] = [];
  const count = 40;
  for (let id = 1; id <= count; id++) {
    const c = g.pick(customers);
    const theirOrders = orders.filter((o) => o.customerId === c.id);
    const cards = pms.filter((p) => p.customerId === c.id && p.kind === 'card');
    const x: TicketContext = {
      c,
      first: c.fullName.split(' ')[0],
      card: cards.length > 0 ? g.pick(cards) : undefined,
      bank: pms.find((p) => p.customerId === c.id && p.kind === 'bank_account'),
      order: theirOrders.length > 0 ? g.pick(theirOrders) : undefined,
      g,
    };
    // Cycle through templates so every kind appears; skip the ones this customer can't fill.
    let t = TEMPLATES[(id - 1) % TEMPLATES.length];
    for (let k = 0; t.needs && !t.needs(x) && k < TEMPLATES.length; k++) t = TEMPLATES[(id + k) % TEMPLATES.length];
    if (t.needs && !t.needs(x)) t = TEMPLATES[0];
    const from = Math.max(parseTs(c.createdAt), x.order ? parseTs(x.order.createdAt) : 0);
    const createdMs = g.time(from + DAY / 8, Math.max(from + DAY, T_DATA_UNTIL));
    const ageDays = (T_DATA_UNTIL - createdMs) / DAY;
    tickets.push({
      id,
      customerId: c.id,
      subject: t.subject,
      body: t.body(x),
      status: ageDays < 7 ? g.pick(['open', 'pending'] as const) : g.weighted([['solved', 6], ['closed', 3], ['open', 1]] as const),
      createdAt: isoTimestamp(createdMs),
    });
  }
  tickets.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0));
  tickets.forEach((t, i) => (t.id = i + 1));
  return tickets;
}

// ---------------------------------------------------------------------------
// SQL

export const DEMO_TABLES = ['customers', 'payment_methods', 'products', 'orders', 'order_items', 'support_tickets'] as const;

export const DEMO_SCHEMA_SQL = `
CREATE TABLE public.customers (
  id             integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  full_name      text        NOT NULL,
  email          text        NOT NULL UNIQUE,
  phone          text,
  ssn            text,
  date_of_birth  date,
  address        text        NOT NULL,
  city           text        NOT NULL,
  region         text,
  postal_code    text,
  country        char(2)     NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  password_hash  text        NOT NULL
);

CREATE TABLE public.payment_methods (
  id              integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  customer_id     integer NOT NULL REFERENCES public.customers(id) ON DELETE CASCADE,
  kind            text    NOT NULL CHECK (kind IN ('card', 'bank_account')),
  card_number     text,
  card_brand      text,
  expiry          text,
  iban            text,
  holder_name     text    NOT NULL,
  is_default      boolean NOT NULL DEFAULT false
);

CREATE TABLE public.products (
  id        integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  sku       text          NOT NULL UNIQUE,
  name      text          NOT NULL,
  category  text          NOT NULL,
  price     numeric(10,2) NOT NULL,
  stock     integer       NOT NULL DEFAULT 0
);

CREATE TABLE public.orders (
  id                integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  customer_id       integer       NOT NULL REFERENCES public.customers(id),
  total             numeric(10,2) NOT NULL,
  status            text          NOT NULL CHECK (status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded')),
  created_at        timestamptz   NOT NULL DEFAULT now(),
  shipping_address  text          NOT NULL
);

CREATE TABLE public.order_items (
  id          integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  order_id    integer       NOT NULL REFERENCES public.orders(id) ON DELETE CASCADE,
  product_id  integer       NOT NULL REFERENCES public.products(id),
  quantity    integer       NOT NULL CHECK (quantity > 0),
  unit_price  numeric(10,2) NOT NULL
);

CREATE TABLE public.support_tickets (
  id           integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  customer_id  integer     REFERENCES public.customers(id) ON DELETE SET NULL,
  subject      text        NOT NULL,
  body         text        NOT NULL,
  status       text        NOT NULL CHECK (status IN ('open', 'pending', 'solved', 'closed')),
  created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX orders_customer_id_idx ON public.orders (customer_id);
CREATE INDEX order_items_order_id_idx ON public.order_items (order_id);
CREATE INDEX payment_methods_customer_id_idx ON public.payment_methods (customer_id);
CREATE INDEX support_tickets_customer_id_idx ON public.support_tickets (customer_id);

COMMENT ON TABLE public.customers IS 'Sluice demo: FAKE customers (example.com emails, 555-01xx / 07700 900xxx phones)';
COMMENT ON COLUMN public.customers.ssn IS 'PII: US Social Security number (fake)';
COMMENT ON COLUMN public.customers.password_hash IS 'secret: bcrypt hash (fake)';
COMMENT ON COLUMN public.payment_methods.card_number IS 'PII: card number (fake, Luhn-valid test range)';
COMMENT ON COLUMN public.payment_methods.iban IS 'PII: IBAN (fake, valid check digits)';
COMMENT ON COLUMN public.support_tickets.body IS 'free text that may contain emails, phones, card numbers, SSNs';
`;

function lit(v: string | number | boolean | null): string {
  if (v === null) return 'NULL';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return `'${v.replace(/'/g, "''")}'`;
}

const money = (cents: number) => (cents / 100).toFixed(2);

function insert(table: string, columns: string[], rows: (string | number | boolean | null)[][]): string {
  if (rows.length === 0) return '';
  const values = rows.map((r) => `  (${r.map(lit).join(', ')})`).join(',\n');
  return (
    `INSERT INTO public.${table} (${columns.join(', ')}) VALUES\n${values};\n` +
    `SELECT setval(pg_get_serial_sequence('public.${table}', 'id'), (SELECT max(id) FROM public.${table}));\n`
  );
}

/** INSERT statements for the given data (default: the standard demo data). */
export function demoDataSql(data: DemoData = generateDemoData()): string {
  return [
    insert(
      'customers',
      ['id', 'full_name', 'email', 'phone', 'ssn', 'date_of_birth', 'address', 'city', 'region', 'postal_code', 'country', 'created_at', 'password_hash'],
      data.customers.map((c) => [c.id, c.fullName, c.email, c.phone, c.ssn, c.dateOfBirth, c.address, c.city, c.region, c.postalCode, c.country, c.createdAt, c.passwordHash]),
    ),
    insert(
      'payment_methods',
      ['id', 'customer_id', 'kind', 'card_number', 'card_brand', 'expiry', 'iban', 'holder_name', 'is_default'],
      data.paymentMethods.map((p) => [p.id, p.customerId, p.kind, p.cardNumber, p.cardBrand, p.expiry, p.iban, p.holderName, p.isDefault]),
    ),
    insert(
      'products',
      ['id', 'sku', 'name', 'category', 'price', 'stock'],
      data.products.map((p) => [p.id, p.sku, p.name, p.category, money(p.priceCents), p.stock]),
    ),
    insert(
      'orders',
      ['id', 'customer_id', 'total', 'status', 'created_at', 'shipping_address'],
      data.orders.map((o) => [o.id, o.customerId, money(o.totalCents), o.status, o.createdAt, o.shippingAddress]),
    ),
    insert(
      'order_items',
      ['id', 'order_id', 'product_id', 'quantity', 'unit_price'],
      data.orderItems.map((i) => [i.id, i.orderId, i.productId, i.quantity, money(i.unitPriceCents)]),
    ),
    insert(
      'support_tickets',
      ['id', 'customer_id', 'subject', 'body', 'status', 'created_at'],
      data.supportTickets.map((t) => [t.id, t.customerId, t.subject, t.body, t.status, t.createdAt]),
    ),
  ].join('\n');
}

/** The whole seed (schema + data) as one transaction. */
export function demoSeedSql(seed: number = DEMO_SEED): string {
  return `BEGIN;\n${DEMO_SCHEMA_SQL}\n${demoDataSql(generateDemoData(seed))}\nCOMMIT;\n`;
}
