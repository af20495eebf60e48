package dev.arbor.train.report;

import java.awt.AlphaComposite;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Composite;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.Shape;
import java.awt.geom.AffineTransform;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Line2D;
import java.awt.geom.Path2D;
import java.awt.geom.Rectangle2D;
import java.awt.image.BufferedImage;

/**
 * Draws on a BufferedImage, for PNG output. Works on a server with no display (headless is
 * forced) and with no usable fonts: if the JDK cannot measure or draw text (no fontconfig, no
 * font files, no libfreetype), text falls back to {@link BitmapFont}.
 */
final class Java2dCanvas implements Canvas {
    static {
        ensureHeadless();
    }

    /** Set from tests (or -Darbor.report.bitmapFont=true) to use the bitmap font regardless. */
    static volatile boolean forceBitmapFont = Boolean.getBoolean("arbor.report.bitmapFont");

    private static volatile Boolean fontsWork; // probed once per JVM

    private final Graphics2D g;
    private final boolean vectorText;

    private Java2dCanvas(Graphics2D g) {
        this.g = g;
        this.vectorText = !forceBitmapFont && fontsWork();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_STROKE_CONTROL, RenderingHints.VALUE_STROKE_PURE);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
    }

    /**
     * AWT decides headless-or-not once, when it is first touched; a chart must never try to
     * open a display. Called before any java.awt class initialises.
     */
    static void ensureHeadless() {
        if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
    }

    /** Paints chart into a new width x height RGB image. */
    static BufferedImage render(Chart chart, int width, int height) {
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            chart.paint(new Java2dCanvas(g), width, height);
        } finally {
            g.dispose();
        }
        return img;
    }

    boolean usesVectorText() {
        return vectorText;
    }

    static boolean fontsWork() {
        Boolean ok = fontsWork;
        if (ok == null) {
            try {
                BufferedImage probe = new BufferedImage(16, 16, BufferedImage.TYPE_INT_RGB);
                Graphics2D pg = probe.createGraphics();
                try {
                    pg.setFont(font(12, false));
                    ok = pg.getFontMetrics().stringWidth("0.5k") > 0;
                    pg.drawString("0.5k", 0, 12);
                } finally {
                    pg.dispose();
                }
            } catch (VirtualMachineError e) {
                throw e;
            } catch (Throwable t) { // e.g. Error("Probable fatal error: No fonts found"), UnsatisfiedLinkError
                ok = false;
            }
            fontsWork = ok;
        }
        return ok;
    }

    private static Font font(double size, boolean bold) {
        return new Font(Font.SANS_SERIF, bold ? Font.BOLD : Font.PLAIN, (int) Math.round(size));
    }

    private static Color color(int rgb, double alpha) {
        return new Color((rgb >> 16) & 0xFF, (rgb >> 8) & 0xFF, rgb & 0xFF, (int) Math.round(255 * alpha));
    }

    @Override
    public void rect(double x, double y, double w, double h, int fill, double fillAlpha, int stroke) {
        Rectangle2D r = new Rectangle2D.Double(x, y, w, h);
        if (fill >= 0) {
            g.setColor(color(fill, fillAlpha));
            g.fill(r);
        }
        if (stroke >= 0) {
            g.setColor(color(stroke, 1));
            g.setStroke(new BasicStroke(1f));
            g.draw(r);
        }
    }

    @Override
    public void line(double x1, double y1, double x2, double y2, int color, double width, boolean dashed) {
        g.setColor(color(color, 1));
        g.setStroke(dashed
                ? new BasicStroke((float) width, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {4f, 3f}, 0f)
                : new BasicStroke((float) width));
        g.draw(new Line2D.Double(x1, y1, x2, y2));
    }

    @Override
    public void polyline(double[] xs, double[] ys, int n, int color, double width, double alpha) {
        if (n < 1) return;
        Path2D.Double p = new Path2D.Double(Path2D.WIND_NON_ZERO, n);
        p.moveTo(xs[0], ys[0]);
        for (int i = 1; i < n; i++) p.lineTo(xs[i], ys[i]);
        if (n == 1) p.lineTo(xs[0] + 0.1, ys[0]);
        // alpha via the composite, not the colour: overlapping segments of one path must not darken
        Composite old = g.getComposite();
        g.setComposite(AlphaComposite.getInstance(AlphaComposite.SRC_OVER, (float) alpha));
        g.setColor(color(color, 1));
        g.setStroke(new BasicStroke((float) width, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND));
        g.draw(p);
        g.setComposite(old);
    }

    @Override
    public void circle(double cx, double cy, double r, int fill, int stroke) {
        Ellipse2D e = new Ellipse2D.Double(cx - r, cy - r, 2 * r, 2 * r);
        if (fill >= 0) {
            g.setColor(color(fill, 1));
            g.fill(e);
        }
        if (stroke >= 0) {
            g.setColor(color(stroke, 1));
            g.setStroke(new BasicStroke(1f));
            g.draw(e);
        }
    }

    @Override
    public void text(String s, double x, double y, double size, int color, Anchor anchor, boolean bold, boolean vertical) {
        double w = textWidth(s, size, bold);
        double dx = anchor == Anchor.START ? 0 : anchor == Anchor.MIDDLE ? -w / 2 : -w;
        AffineTransform saved = g.getTransform();
        g.translate(x, y);
        if (vertical) g.rotate(-Math.PI / 2);
        g.setColor(color(color, 1));
        if (vectorText) {
            g.setFont(font(size, bold));
            g.drawString(s, (float) dx, 0f);
        } else {
            int k = BitmapFont.scale(size);
            BitmapFont.draw(s, dx, -BitmapFont.H * k, size, bold, (px, py, pw, ph) -> g.fill(new Rectangle2D.Double(px, py, pw, ph)));
        }
        g.setTransform(saved);
    }

    @Override
    public double textWidth(String s, double size, boolean bold) {
        if (!vectorText) return BitmapFont.width(s, size);
        return g.getFontMetrics(font(size, bold)).stringWidth(s);
    }

    @Override
    public void clip(double x, double y, double w, double h) {
        g.setClip((Shape) new Rectangle2D.Double(x, y, w, h));
    }

    @Override
    public void unclip() {
        g.setClip(null);
    }
}
