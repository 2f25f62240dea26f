// Prints the Playwright tests of a JSON report that failed or were flaky, one per line
// (file:line › title: status, then the first line of the error), so a run's last lines
// name what broke even when only its tail is kept.
import { readFileSync } from 'node:fs';

const report = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const walk = (suite) => {
  for (const spec of suite.specs ?? []) {
    for (const t of spec.tests ?? []) {
      if (t.status !== 'unexpected' && t.status !== 'flaky') continue;
      const failed = (t.results ?? []).find((r) => r.status !== 'passed' && r.status !== 'skipped');
      const error = (failed?.error?.message ?? '').replace(/\u001b\[[0-9;]*m/g, '').split('\n')[0];
      console.log(`  ${t.projectName} ${spec.file}:${spec.line} › ${spec.title}: ${t.status}${error ? ` (${error.slice(0, 300)})` : ''}`);
    }
  }
  for (const s of suite.suites ?? []) walk(s);
};
for (const s of report.suites ?? []) walk(s);
