"""The latency plot: hand-written SVG (no plotting library on these machines)."""



COLORS = {"direct": "#1b7837", "forward": "#c51b7d", "cache rv=0": "#2166ac", "cache rv unset": "#7fbfff"}


def svg_cdf_panel(x0, y0, w, h, title, series):
    """One panel: latency (log x) against percentile (y), one polyline per series."""
    import math
    out = []
    allv = [v for s in series.values() for v in s if v > 0]
    if not allv:
        return ""
    lo = 10 ** math.floor(math.log10(min(allv)))
    hi = 10 ** math.ceil(math.log10(max(allv)))
    lx0, lx1 = math.log10(lo), math.log10(hi)

    def px(v):
        return x0 + (math.log10(max(v, lo)) - lx0) / (lx1 - lx0) * w

    def py(p):
        return y0 + h - p / 100.0 * h
    out.append(f'<text x="{x0 + w / 2}" y="{y0 - 12}" text-anchor="middle" font-size="14" font-weight="bold">{title}</text>')
    out.append(f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#444"/>')
    d = lo
    while d <= hi * 1.0001:
        x = px(d)
        out.append(f'<line x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{y0 + h}" stroke="#ddd"/>')
        label = f"{d / 1000:g} ms" if d >= 1000 else f"{d:g} µs"
        out.append(f'<text x="{x:.1f}" y="{y0 + h + 16}" text-anchor="middle" font-size="11">{label}</text>')
        d *= 10
    for p in (0, 25, 50, 75, 90, 99, 100):
        y = py(p)
        out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + w}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">p{p}</text>')
    ly = y0 + 14
    for name, vals in series.items():
        if not vals:
            continue
        vals = sorted(vals)
        n = len(vals)
        step = max(1, n // 400)
        pts = [(px(vals[i]), py(100.0 * (i + 1) / n)) for i in range(0, n, step)]
        pts.append((px(vals[-1]), py(100)))
        color = COLORS.get(name, "#333")
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="' +
                   " ".join(f"{x:.1f},{y:.1f}" for x, y in pts) + '"/>')
        med = vals[n // 2]
        out.append(f'<text x="{x0 + 8}" y="{ly}" font-size="11" fill="{color}">{name}: p50 {med / 1000:.2f} ms, '
                   f'p99 {vals[min(n - 1, int(0.99 * (n - 1) + 0.5))] / 1000:.2f} ms (n={n})</text>')
        ly += 14
    return "\n".join(out)


def write_svg(path, panels, subtitle):
    w, h = 520, 300
    cols = 2
    rows = (len(panels) + cols - 1) // cols
    width, height = 60 + cols * (w + 80), 70 + rows * (h + 80)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{width / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">'
             f'kubehub latency distributions (one keep-alive connection; cumulative)</text>',
             f'<text x="{width / 2}" y="42" text-anchor="middle" font-size="12">{subtitle}</text>']
    for i, (title, series) in enumerate(panels):
        x0 = 70 + (i % cols) * (w + 80)
        y0 = 80 + (i // cols) * (h + 80)
        parts.append(svg_cdf_panel(x0, y0, w, h, title, series))
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")
