// Layout checks shared by the browser tests: measured from getBoundingClientRect of the
// dashboard's visible panels (`main > section.panel`), at a given window size.
//
// - overlap: no two visible panels intersect (by more than a rounding pixel);
// - holes: every point of the grid's content box, from its top to the lowest panel's bottom,
//   sampled every 8 px, lies in a panel or within 8 px of one (the 14 px gaps between panels
//   are not holes; anything wider than ~16 px is);
// - horizontal scrolling: the page is no wider than the window, and every panel lies within
//   the grid's content box;
// - fold (optional): the named panel lies entirely within the window, page scrolled to the top.

/** Measures the layout at `width` x `height`; throws with the measurements when a check fails. */
export async function checkLayout(page, { width, height, fold = null, label = '' }) {
  await page.setViewportSize({ width, height });
  await page.evaluate(() => window.scrollTo(0, 0));
  // Two frames: the resize is laid out and the chart's ResizeObserver has run.
  await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
  const m = await page.evaluate((foldId) => {
    const box = (node) => {
      const r = node.getBoundingClientRect();
      return { left: r.left + scrollX, top: r.top + scrollY, right: r.right + scrollX, bottom: r.bottom + scrollY };
    };
    const main = document.querySelector('main');
    const style = getComputedStyle(main);
    const outer = box(main);
    const content = {
      left: outer.left + parseFloat(style.paddingLeft),
      right: outer.right - parseFloat(style.paddingRight),
      top: outer.top + parseFloat(style.paddingTop),
    };
    const panels = [...main.querySelectorAll(':scope > section.panel')]
      .filter((p) => !p.hidden && getComputedStyle(p).display !== 'none')
      .map((p) => ({ id: p.id, ...box(p) }));
    const overlaps = [];
    for (let i = 0; i < panels.length; i += 1) {
      for (let j = i + 1; j < panels.length; j += 1) {
        const a = panels[i];
        const b = panels[j];
        const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
        const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
        if (w > 1 && h > 1) overlaps.push(`${a.id} and ${b.id} (${Math.round(w)}x${Math.round(h)} px)`);
      }
    }
    const outside = panels
      .filter((p) => p.left < content.left - 1 || p.right > content.right + 1)
      .map((p) => `${p.id} spans ${Math.round(p.left)}..${Math.round(p.right)}, grid ${Math.round(content.left)}..${Math.round(content.right)}`);
    const bottom = Math.max(...panels.map((p) => p.bottom));
    const reach = 8;
    let holes = 0;
    let holeBox = null;
    for (let y = content.top + 2; y < bottom - 2; y += 8) {
      for (let x = content.left + 2; x < content.right - 2; x += 8) {
        const near = panels.some((p) => x >= p.left - reach && x <= p.right + reach && y >= p.top - reach && y <= p.bottom + reach);
        if (near) continue;
        holes += 1;
        holeBox = holeBox
          ? { left: Math.min(holeBox.left, x), top: Math.min(holeBox.top, y), right: Math.max(holeBox.right, x), bottom: Math.max(holeBox.bottom, y) }
          : { left: x, top: y, right: x, bottom: y };
      }
    }
    const foldNode = foldId ? document.getElementById(foldId) : null;
    const foldRect = foldNode ? foldNode.getBoundingClientRect() : null;
    return {
      panels: panels.map((p) => `${p.id} ${Math.round(p.left)},${Math.round(p.top)} ${Math.round(p.right - p.left)}x${Math.round(p.bottom - p.top)}`),
      overlaps,
      outside,
      holes,
      holeBox: holeBox && `${Math.round(holeBox.left)},${Math.round(holeBox.top)}..${Math.round(holeBox.right)},${Math.round(holeBox.bottom)}`,
      scrollWidth: document.documentElement.scrollWidth,
      clientWidth: document.documentElement.clientWidth,
      scrollY,
      innerHeight,
      fold: foldRect && { top: foldRect.top, bottom: foldRect.bottom, hidden: foldNode.hidden },
    };
  }, fold);
  const where = `${label ? `${label}, ` : ''}${width}x${height}`;
  const detail = () => `\n  panels: ${m.panels.join('; ')}`;
  if (m.overlaps.length) throw new Error(`check failed: panels overlap at ${where}: ${m.overlaps.join(', ')}${detail()}`);
  if (m.holes) throw new Error(`check failed: a hole in the layout at ${where}: ${m.holes} sample points in no panel, within ${m.holeBox}${detail()}`);
  if (m.scrollWidth > m.clientWidth) {
    throw new Error(`check failed: a horizontal scrollbar at ${where}: the page is ${m.scrollWidth} px wide in ${m.clientWidth} px${detail()}`);
  }
  if (m.outside.length) throw new Error(`check failed: panels outside the grid at ${where}: ${m.outside.join(', ')}${detail()}`);
  if (fold) {
    const f = m.fold;
    if (!f || f.hidden || m.scrollY !== 0 || f.top < 0 || f.bottom > m.innerHeight) {
      throw new Error(`check failed: #${fold} is not within the ${where} window without scrolling: ${JSON.stringify(f)}${detail()}`);
    }
  }
  const summary = `${m.panels.length} panels, no overlap, no hole, no horizontal scrollbar` +
    (fold ? `, #${fold} within the window (${Math.round(m.fold.top)}..${Math.round(m.fold.bottom)} of ${m.innerHeight} px)` : '');
  return summary;
}
