"""What the browser accessibility tests check on a page as it is: axe-core's serious and critical
WCAG 2.1 A/AA violations, visible controls smaller than 44x44 px, and one <h1>. Used by the member
pages' test (test_accessibility.py) and the consoles' (test_console_accessibility.py)."""
from pathlib import Path

AXE = (Path(__file__).parent / "vendor" / "axe-4.14.1.min.js").read_text(encoding="utf-8")
# Visible controls smaller than 44x44 px; inline links inside a paragraph or list item of running text are
# the documented exception (WCAG 2.5.5's "inline" exception).
SMALL_TARGETS = """
() => [...document.querySelectorAll('a[href], button, input, select, textarea, summary, [role=button]')]
  .filter(e => {
    if (e.type === 'hidden' || !(e.offsetWidth || e.offsetHeight || e.getClientRects().length)) return false;
    const style = getComputedStyle(e);
    if (style.visibility === 'hidden') return false;
    const r = e.getBoundingClientRect();
    if (r.width >= 44 && r.height >= 44) return false;
    if (e.tagName === 'A' && style.display === 'inline' && e.closest('p, li, dd, td, label, small')) return false;
    const label = e.closest('label');  // a checkbox inside its label: the label is the target
    if (label && ['checkbox', 'radio'].includes(e.type)) {
      const lr = label.getBoundingClientRect();
      if (lr.height >= 44 && lr.width >= 44) return false;
    }
    return true;
  })
  .map(e => `${e.tagName.toLowerCase()}${e.className ? '.' + String(e.className).split(' ').join('.') : ''}`
       + ` "${(e.textContent || e.getAttribute('aria-label') || e.name || '').trim().slice(0, 20)}"`
       + ` ${Math.round(e.getBoundingClientRect().width)}x${Math.round(e.getBoundingClientRect().height)}`)
"""


def audit(page, paths):
    """{path: [findings]} of axe's serious and critical violations and of small tap targets."""
    found = {}
    for path in paths:
        page.goto(path)
        problems = findings(page)
        if problems:
            found[path] = problems
    return found


def findings(page):
    """axe's serious and critical violations, small tap targets and the <h1> count of the page as it is."""
    page.evaluate(AXE)
    violations = page.evaluate("""async () => (await axe.run(document, {
        runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})).violations
        .filter(v => ['serious', 'critical'].includes(v.impact))
        .map(v => `${v.id}: ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ')}`)""")
    problems = violations + [f"tap target {target}" for target in page.evaluate(SMALL_TARGETS)]
    headings = page.locator("h1").count()
    if headings != 1:
        problems.append(f"{headings} <h1> elements (one per page: what the page is)")
    return problems
