"""The report as one self-contained HTML page: figures, two charts drawn as inline SVG (time to
final per vendor against the statutory month; outcomes per vendor), and what a vendor may still
hold. No script, no external file: it opens anywhere and prints as it shows."""

from __future__ import annotations

from html import escape

from tools.erasure_cli.report import Period

DEADLINE_DAYS = 30  # GDPR's month, roughly: the line the time to final is read against
COLORS = {
    "deleted": "#2e7d32",
    "accepted": "#66bb6a",
    "resolved": "#43a047",
    "already_absent": "#a5d6a7",
    "skipped": "#cfd8dc",
    "refused": "#c62828",
    "ambiguous": "#ef6c00",
    "cancelled": "#8d6e63",
}
STYLE = """body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#222}
h1{font-size:1.5rem}h2{font-size:1.1rem;margin-top:2rem}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left}th{background:#f5f5f5}
.figures td:last-child{text-align:right;font-weight:600}.note{color:#666;font-size:.9em}"""


def render(period: Period) -> str:
    totals = period.totals
    figures = "".join(
        f"<tr><td>{escape(name.replace('_', ' '))}</td><td>{value}</td></tr>"
        for name, value in totals.items()
    )
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Erasure report {escape(period.start)} to {escape(period.end)}</title>
<style>{STYLE}</style></head><body>
<h1>Erasure report: requests created {escape(period.start)} to {escape(period.end)}</h1>
<p class="note">From the relay's receipts. Identifiers appear only as keyed hashes. "Final": every vendor
answered and every verification was made; "within deadline": final by the request's statutory due date.</p>
<table class="figures">{figures}</table>
<h2>Time to final per vendor (days)</h2>{_time_chart(period)}
<h2>Outcomes per vendor (identifiers)</h2>{_outcome_chart(period)}
<h2>What a vendor may still hold, and why</h2>{_problems(period)}
</body></html>"""


def _time_chart(period: Period) -> str:
    days = period.vendor_days()
    if not days:
        return "<p>No request of the period is final yet.</p>"
    scale = 560 / max(DEADLINE_DAYS, *(worst for _, _, worst in days.values()))
    rows, y = [], 10
    for vendor, (median, p90, worst) in days.items():
        rows.append(
            f'<text x="0" y="{y + 14}">{escape(vendor)}</text>'
            f'<rect x="110" y="{y}" width="{worst * scale:.1f}" height="18" fill="#e0e0e0"/>'
            f'<rect x="110" y="{y}" width="{p90 * scale:.1f}" height="18" fill="#90caf9"/>'
            f'<rect x="110" y="{y}" width="{median * scale:.1f}" height="18" fill="#1e88e5"/>'
            f'<text x="{116 + worst * scale:.1f}" y="{y + 14}" font-size="12">'
            f"median {median:.2f}, p90 {p90:.2f}, slowest {worst:.2f}</text>"
        )
        y += 28
    line = 110 + DEADLINE_DAYS * scale
    rows.append(
        f'<line x1="{line:.1f}" y1="0" x2="{line:.1f}" y2="{y}" stroke="#c62828" stroke-dasharray="4"/>'
    )
    rows.append(
        f'<text x="{line - 60:.1f}" y="{y + 14}" font-size="12" fill="#c62828">{DEADLINE_DAYS} days</text>'
    )
    return _svg("days to final per vendor", y + 24, rows)


def _outcome_chart(period: Period) -> str:
    rows, y = [], 10
    most = max((sum(c.values()) for c in period.outcomes_by_vendor.values()), default=0) or 1
    for vendor, counts in sorted(period.outcomes_by_vendor.items()):
        x = 110.0
        rows.append(f'<text x="0" y="{y + 14}">{escape(vendor)}</text>')
        for outcome, count in sorted(counts.items()):
            width = 460 * count / most  # room for its legend after it
            color = COLORS.get(outcome, "#fbc02d")
            rows.append(
                f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="18" fill="{color}">'
                f"<title>{escape(outcome)}: {count}</title></rect>"
            )
            x += width
        legend = ", ".join(f"{escape(o)} {c}" for o, c in sorted(counts.items()))
        rows.append(f'<text x="{x + 6:.1f}" y="{y + 14}" font-size="12">{legend}</text>')
        y += 28
    return _svg("outcomes per vendor", y + 10, rows)


def _svg(label: str, height: int, rows: list[str]) -> str:
    return (
        f'<svg role="img" aria-label="{label}" width="900" height="{height}" font-family="system-ui">'
        f"{''.join(rows)}</svg>"
    )


def _problems(period: Period) -> str:
    if not period.problems:
        return "<p>Nothing: every vendor took every erasure it was asked for, and none was found again.</p>"
    cells = ("request_id", "vendor", "identifier", "id_hash", "finding", "reason")
    head = "".join(f"<th>{c.replace('_', ' ')}</th>" for c in cells)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(p[c])}</td>" for c in cells) + "</tr>" for p in period.problems
    )
    return f"<table><tr>{head}</tr>{body}</table>"
