package dev.arbor.train.report;

import java.util.HashMap;
import java.util.Map;

/**
 * A 5x7 pixel font (the classic HD44780 character shapes) for PNG text when the JDK cannot
 * render fonts (no fontconfig, no font files, no libfreetype on a bare server). Upper case
 * only: lower case letters are drawn as capitals; unknown characters as '?'.
 */
final class BitmapFont {
    private BitmapFont() {}

    /** Receives the lit pixels of a string. */
    interface Pixels {
        void fill(double x, double y, double w, double h);
    }

    static final int W = 5, H = 7, ADVANCE = 6;

    private static final Map<Character, int[]> GLYPHS = new HashMap<>();

    static {
        // character, space, then 7 rows of 5 bits as two hex digits each, top row first,
        // 0x10 = leftmost column
        String[] table = {
            "  00000000000000", "0 0E11131519110E", "1 040C040404040E", "2 0E11010204081F", "3 1F02040201110E", "4 02060A121F0202",
            "5 1F101E0101110E", "6 0608101E11110E", "7 1F010204080808", "8 0E11110E11110E", "9 0E11110F01020C", "A 0E1111111F1111",
            "B 1E11111E11111E", "C 0E11101010110E", "D 1C12111111121C", "E 1F10101E10101F", "F 1F10101E101010", "G 0E11101711110F",
            "H 1111111F111111", "I 0E04040404040E", "J 0702020202120C", "K 11121418141211", "L 1010101010101F", "M 111B1515111111",
            "N 11111915131111", "O 0E11111111110E", "P 1E11111E101010", "Q 0E11111115120D", "R 1E11111E141211", "S 0F10100E01011E",
            "T 1F040404040404", "U 1111111111110E", "V 11111111110A04", "W 1111111515150A", "X 11110A040A1111", "Y 1111110A040404",
            "Z 1F01020408101F", ". 00000000000C0C", ", 000000000C0408", "- 0000001F000000", "+ 0004041F040400", ": 000C0C000C0C00",
            "/ 00010204081000", "( 02040808080402", ") 08040202020408", "% 18190204081303", "_ 0000000000001F", "= 00001F001F0000",
            "[ 0E08080808080E", "] 0E02020202020E", "? 0E110102040004", "' 0C040800000000", "# 0A0A1F0A1F0A0A", "* 0004150E150400",
            "< 02040810080402", "> 08040201020408", "| 04040404040404", "! 04040404000004", "& 0C12140815120D", "\" 0A0A0A00000000",
            "~ 00000815020000",
        };
        for (String row : table) {
            int[] rows = new int[H];
            for (int i = 0; i < H; i++) rows[i] = Integer.parseInt(row.substring(2 + 2 * i, 4 + 2 * i), 16);
            GLYPHS.put(row.charAt(0), rows);
        }
    }

    /** Pixel size of one font pixel for a nominal font size. */
    static int scale(double size) {
        return Math.max(1, (int) Math.round(size / 9.0));
    }

    static double width(String s, double size) {
        int k = scale(size);
        return s.isEmpty() ? 0 : (s.length() * ADVANCE - 1) * k;
    }

    /** Draws s with its top-left corner at (x, top). */
    static void draw(String s, double x, double top, double size, boolean bold, Pixels out) {
        int k = scale(size);
        for (int i = 0; i < s.length(); i++) {
            int[] g = GLYPHS.get(Character.toUpperCase(s.charAt(i)));
            if (g == null) g = GLYPHS.get('?');
            double gx = x + i * ADVANCE * k;
            for (int r = 0; r < H; r++)
                for (int c = 0; c < W; c++)
                    if ((g[r] & (0x10 >> c)) != 0) out.fill(gx + c * k, top + r * k, bold ? k + 1 : k, k);
        }
    }
}
