package dev.arbor.train.report;

import java.util.Locale;

/** Draws into an SVG document held as text (for inlining in HTML). */
final class SvgCanvas implements Canvas {
    private final StringBuilder sb = new StringBuilder(16_384);
    private final String idPrefix;
    private int clips;
    private boolean clipped;

    /** idPrefix keeps clip-path ids unique when several SVGs share one HTML page. */
    SvgCanvas(int width, int height, String idPrefix) {
        this.idPrefix = idPrefix;
        sb.append("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"").append(width).append("\" height=\"").append(height)
                .append("\" viewBox=\"0 0 ").append(width).append(' ').append(height)
                .append("\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n");
    }

    /** The finished document. */
    String finish() {
        unclip();
        return sb + "</svg>\n";
    }

    @Override
    public void rect(double x, double y, double w, double h, int fill, double fillAlpha, int stroke) {
        sb.append("<rect x=\"").append(n(x)).append("\" y=\"").append(n(y)).append("\" width=\"").append(n(w))
                .append("\" height=\"").append(n(h)).append("\" fill=\"").append(fill < 0 ? "none" : hex(fill)).append('"');
        if (fill >= 0 && fillAlpha < 1) sb.append(" fill-opacity=\"").append(n2(fillAlpha)).append('"');
        if (stroke >= 0) sb.append(" stroke=\"").append(hex(stroke)).append("\" stroke-width=\"1\"");
        sb.append("/>\n");
    }

    @Override
    public void line(double x1, double y1, double x2, double y2, int color, double width, boolean dashed) {
        sb.append("<line x1=\"").append(n(x1)).append("\" y1=\"").append(n(y1)).append("\" x2=\"").append(n(x2))
                .append("\" y2=\"").append(n(y2)).append("\" stroke=\"").append(hex(color)).append("\" stroke-width=\"")
                .append(n(width)).append('"');
        if (dashed) sb.append(" stroke-dasharray=\"4 3\"");
        sb.append("/>\n");
    }

    @Override
    public void polyline(double[] xs, double[] ys, int count, int color, double width, double alpha) {
        if (count < 1) return;
        sb.append("<path d=\"");
        for (int i = 0; i < count; i++) sb.append(i == 0 ? 'M' : 'L').append(n(xs[i])).append(' ').append(n(ys[i]));
        if (count == 1) sb.append('h').append("0.1"); // a lone point still shows with round caps
        sb.append("\" fill=\"none\" stroke=\"").append(hex(color)).append("\" stroke-width=\"").append(n(width))
                .append("\" stroke-linejoin=\"round\" stroke-linecap=\"round\"");
        if (alpha < 1) sb.append(" stroke-opacity=\"").append(n2(alpha)).append('"');
        sb.append("/>\n");
    }

    @Override
    public void circle(double cx, double cy, double r, int fill, int stroke) {
        sb.append("<circle cx=\"").append(n(cx)).append("\" cy=\"").append(n(cy)).append("\" r=\"").append(n(r))
                .append("\" fill=\"").append(fill < 0 ? "none" : hex(fill)).append('"');
        if (stroke >= 0) sb.append(" stroke=\"").append(hex(stroke)).append("\" stroke-width=\"1\"");
        sb.append("/>\n");
    }

    @Override
    public void text(String s, double x, double y, double size, int color, Anchor anchor, boolean bold, boolean vertical) {
        sb.append("<text x=\"").append(n(x)).append("\" y=\"").append(n(y)).append("\" font-size=\"").append(n(size))
                .append("\" fill=\"").append(hex(color)).append('"');
        if (anchor != Anchor.START) sb.append(" text-anchor=\"").append(anchor == Anchor.MIDDLE ? "middle" : "end").append('"');
        if (bold) sb.append(" font-weight=\"bold\"");
        if (vertical) sb.append(" transform=\"rotate(-90 ").append(n(x)).append(' ').append(n(y)).append(")\"");
        sb.append('>').append(escape(s)).append("</text>\n");
    }

    @Override
    public double textWidth(String s, double size, boolean bold) {
        return s.length() * size * (bold ? 0.64 : 0.58); // DejaVu Sans averages ~0.6 em per character
    }

    @Override
    public void clip(double x, double y, double w, double h) {
        unclip();
        String id = idPrefix + "-clip" + (clips++);
        sb.append("<clipPath id=\"").append(id).append("\"><rect x=\"").append(n(x)).append("\" y=\"").append(n(y))
                .append("\" width=\"").append(n(w)).append("\" height=\"").append(n(h)).append("\"/></clipPath>\n")
                .append("<g clip-path=\"url(#").append(id).append(")\">\n");
        clipped = true;
    }

    @Override
    public void unclip() {
        if (clipped) sb.append("</g>\n");
        clipped = false;
    }

    static String hex(int rgb) {
        return String.format(Locale.ROOT, "#%06x", rgb & 0xFFFFFF);
    }

    /** One decimal place: enough for pixels, keeps big paths small. */
    private static String n(double v) {
        long tenths = Math.round(v * 10);
        String sign = tenths < 0 ? "-" : "";
        tenths = Math.abs(tenths);
        return tenths % 10 == 0 ? sign + tenths / 10 : sign + tenths / 10 + "." + tenths % 10;
    }

    private static String n2(double v) {
        return String.format(Locale.ROOT, "%.2f", v);
    }

    static String escape(String s) {
        StringBuilder b = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '&' -> b.append("&amp;");
                case '<' -> b.append("&lt;");
                case '>' -> b.append("&gt;");
                case '"' -> b.append("&quot;");
                case '\'' -> b.append("&#39;");
                default -> b.append(c);
            }
        }
        return b.toString();
    }
}
