/**
 * npm run bench — render time of generated environments, one line per size:
 *   hosts=N ms=T per_host_us=U
 * Target: 2,500 hosts in under 5 s, cost growing linearly (per_host_us roughly flat).
 */
import { validateEnvironment } from "../src/config/load";
import { renderEnvironment } from "../src/render";
import { generateEnvironment } from "../src/testing/generate";

for (const n of [25, 250, 2500]) {
  const raw = generateEnvironment({ hosts: n, haproxyGroups: Math.max(1, Math.floor(n / 50)) });
  const t0 = process.hrtime.bigint();
  const r = validateEnvironment(raw);
  if (!r.ok)
    throw new Error(`generated environment invalid: ${JSON.stringify(r.errors.slice(0, 3))}`);
  const rendered = renderEnvironment(r.env);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  process.stdout.write(
    `hosts=${n} ms=${ms.toFixed(0)} per_host_us=${((ms * 1000) / n).toFixed(0)} files=${rendered.files.size}\n`,
  );
}
