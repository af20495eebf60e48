package dev.arbor.versioning;

import java.util.regex.Pattern;

/**
 * A reference to a version in the store: {@code name@3} (version number),
 * {@code name@sha256:<unique prefix>} (version id), {@code name:tag}, or {@code name}
 * (= {@code name:latest}).
 */
public record Ref(String model, Kind kind, String value) {

    public enum Kind { NUMBER, ID, TAG }

    public static final String LATEST = "latest";
    /** Model and tag names: safe as file names on every platform, and free of '@' and ':'. */
    static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");
    private static final Pattern HEX = Pattern.compile("[0-9a-f]{1,64}");

    public Ref {
        checkName("model", model);
        switch (kind) {
            case NUMBER -> {
                try {
                    if (Integer.parseInt(value) < 1) throw new NumberFormatException();
                } catch (NumberFormatException e) {
                    throw new StoreException("'" + model + "@" + value + "' is not a reference: version numbers are whole numbers from 1.");
                }
            }
            case ID -> {
                if (!HEX.matcher(value).matches()) {
                    throw new StoreException("'" + model + "@sha256:" + value
                            + "' is not a reference: give lowercase hex digits of the version id.");
                }
            }
            case TAG -> checkName("tag", value);
        }
    }

    /** Parses a reference, refusing anything else with one sentence. */
    public static Ref parse(String text) {
        int at = text.indexOf('@');
        if (at >= 0) {
            String model = text.substring(0, at), rest = text.substring(at + 1);
            if (rest.startsWith("sha256:")) return new Ref(model, Kind.ID, rest.substring("sha256:".length()));
            return new Ref(model, Kind.NUMBER, rest);
        }
        int colon = text.indexOf(':');
        if (colon >= 0) return new Ref(text.substring(0, colon), Kind.TAG, text.substring(colon + 1));
        return new Ref(text, Kind.TAG, LATEST);
    }

    /** Whether text has the shape of a reference (so a CLI argument is not a path). */
    public static boolean looksLikeRef(String text) {
        try {
            parse(text);
            return true;
        } catch (StoreException e) {
            return false;
        }
    }

    /** A {@code name:tag} reference, as {@code tag} and {@code rollback} take. */
    public static Ref parseTag(String text) {
        if (text.indexOf('@') >= 0 || text.indexOf(':') < 0) {
            throw new StoreException("'" + text + "' is not a tag reference: write it as name:tag.");
        }
        return parse(text);
    }

    static void checkName(String what, String name) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new StoreException("'" + name + "' is not a valid " + what
                    + " name: use letters, digits, '.', '_' and '-' (starting with a letter or digit).");
        }
    }

    @Override public String toString() {
        return switch (kind) {
            case NUMBER -> model + "@" + value;
            case ID -> model + "@sha256:" + value;
            case TAG -> model + ":" + value;
        };
    }
}
