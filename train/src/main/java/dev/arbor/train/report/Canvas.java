package dev.arbor.train.report;

/**
 * What a chart is drawn on: the PNG (Java2D) and the SVG (text) implement the same calls, so
 * both pictures come from one layout. Coordinates are pixels, y down. Colours are 0xRRGGBB
 * ints (no java.awt in the model, so the SVG path never touches AWT).
 */
interface Canvas {
    enum Anchor { START, MIDDLE, END }

    /** Fills and/or strokes a rectangle; a negative colour means none; fillAlpha in [0, 1]. */
    void rect(double x, double y, double w, double h, int fill, double fillAlpha, int stroke);

    void line(double x1, double y1, double x2, double y2, int color, double width, boolean dashed);

    /** An open polyline through the first n points. */
    void polyline(double[] xs, double[] ys, int n, int color, double width, double alpha);

    void circle(double cx, double cy, double r, int fill, int stroke);

    /**
     * Text with its baseline at y (or, when vertical, rotated a quarter turn anticlockwise
     * about (x, y), reading bottom to top).
     */
    void text(String s, double x, double y, double size, int color, Anchor anchor, boolean bold, boolean vertical);

    double textWidth(String s, double size, boolean bold);

    /** Restricts drawing to a rectangle until {@link #unclip}. */
    void clip(double x, double y, double w, double h);

    void unclip();
}
