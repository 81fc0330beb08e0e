// The `seqcnn variants --report` page in a real browser (Debian's chromium, driven by
// playwright-core): it loads with no network, a column sorts, a filter hides rows, a row's link
// leads to its REF and ALT maps (the variant outlined) and the map's link leads back; then
// screenshots of the page and of the first map.
//
// Usage: node report.mjs REPORT.html OUT_DIR [DELETION_POS]
//   DELETION_POS: the POS of a deletion among the mapped variants, whose figure must hold a REF
//   outline wider than its ALT outline.
import { chromium } from 'playwright-core';
import path from 'node:path';
import fs from 'node:fs';

const [report, outDir, deletionPos] = process.argv.slice(2);
if (!report || !outDir) {
  console.error('usage: node report.mjs REPORT.html OUT_DIR [DELETION_POS]');
  process.exit(2);
}
fs.mkdirSync(outDir, { recursive: true });

function check(cond, what) {
  if (!cond) {
    throw new Error(`report check failed: ${what}`);
  }
  console.log(`ok: ${what}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
let failed = false;
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  // Self-contained: any request other than the file itself fails the test.
  const requests = [];
  page.on('request', (r) => {
    if (!r.url().startsWith('file://')) {
      requests.push(r.url());
    }
  });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto('file://' + path.resolve(report));
  const rows = page.locator('#variants tbody tr');
  const total = await rows.count();
  check(total > 1, `the table has ${total} rows`);

  // Columns by header text.
  const heads = await page.locator('#variants thead tr:first-child th').allTextContents();
  const col = (name) => {
    const i = heads.indexOf(name);
    if (i < 0) throw new Error(`no column ${name} in ${heads}`);
    return i;
  };
  const column = async (name) => page.$$eval(
    '#variants tbody tr',
    (trs, i) => trs.filter((tr) => tr.style.display !== 'none').map((tr) => tr.cells[i].textContent),
    col(name),
  );
  const sorted = (v, dir) => v.every((x, k) => k === 0 || dir * (x - v[k - 1]) >= 0);

  // Sort by position: ascending, then descending.
  const pos = page.locator('#variants thead tr:first-child th', { hasText: /^pos$/ });
  await pos.click();
  let p = (await column('pos')).map(Number);
  check(sorted(p, 1) && p[0] < p[p.length - 1], 'a click on "pos" sorts ascending');
  await pos.click();
  p = (await column('pos')).map(Number);
  check(sorted(p, -1), 'a second click sorts descending');
  // Back to rank order.
  await page.locator('#variants thead tr:first-child th', { hasText: /^rank$/ }).click();
  const ranks = (await column('rank')).map(Number);
  check(sorted(ranks, 1) && ranks[0] === 1, 'sorted by rank again');

  // Filter: |diff| above the median hides the rest; clearing it shows every row.
  const effects = (await column('max |diff|')).map(Number).sort((a, b) => a - b);
  const median = effects[Math.floor(effects.length / 2)];
  const box = page.locator('#variants tr.filters input').nth(col('max |diff|'));
  await box.fill(`>${median}`);
  const kept = (await column('max |diff|')).map(Number);
  check(kept.length > 0 && kept.length < total && kept.every((v) => v > median),
    `the filter ">${median}" keeps ${kept.length} of ${total} rows, all above it`);
  await box.fill('');
  check((await column('rank')).length === total, 'an empty filter shows every row');

  // Row 1's link leads to its figure: REF and ALT maps, the variant outlined, in view.
  await page.locator('#row1 a[href="#map1"]').click();
  check(await page.evaluate(() => location.hash) === '#map1', 'the row link goes to #map1');
  const fig = page.locator('figure#map1');
  const maps = fig.locator('svg');
  check(await maps.count() === 2, 'the figure holds two maps');
  check(await fig.locator('.ref svg rect.mark').count() >= 1, 'REF bases outlined');
  check(await fig.locator('.alt svg rect.mark').count() >= 1, 'ALT bases outlined');
  check(await fig.locator('.ref svg rect.cell').count() > 100, 'the REF map has its cells');
  const box1 = await fig.boundingBox();
  check(box1 !== null && Math.abs(box1.y) < 5, `the figure is scrolled into view (top at ${box1 && box1.y})`);
  await fig.screenshot({ path: path.join(outDir, 'report_map1.png') });
  await fig.locator('a[href="#row1"]').click();
  check(await page.evaluate(() => location.hash) === '#row1', 'the figure links back to its row');

  if (deletionPos) {
    const rowIndex = (await column('pos')).indexOf(deletionPos);
    check(rowIndex >= 0, `a row for POS ${deletionPos}`);
    const link = rows.nth(rowIndex).locator('a');
    const href = await link.getAttribute('href');
    await link.click();
    const del = page.locator(`figure${href}`);
    const width = async (side) => Number(await del.locator(`.${side} svg rect.mark`).first().getAttribute('width'));
    const [rw, aw] = [await width('ref'), await width('alt')];
    check(rw > aw, `POS ${deletionPos}: REF outline (${rw}) wider than ALT's (${aw})`);
    await del.screenshot({ path: path.join(outDir, 'report_deletion.png') });
  }

  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(outDir, 'report.png') });
  check(requests.length === 0, `no request left the file (${requests.join(', ') || 'none'})`);
  check(errors.length === 0, `no script errors (${errors.join('; ') || 'none'})`);
} catch (e) {
  console.error(String(e.stack || e));
  failed = true;
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
