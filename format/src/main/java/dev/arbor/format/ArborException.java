package dev.arbor.format;

/**
 * Bad input from a user or on disk, in any module. The message is one clear sentence naming
 * what is wrong; the CLI prints it as is and exits 1, the server turns it into a JSON error.
 */
public class ArborException extends RuntimeException {
    public ArborException(String message) { super(message); }
    public ArborException(String message, Throwable cause) { super(message, cause); }
}
