package dev.arbor.format;

/**
 * Bad input on disk or from the user. The message is one sentence that names the file or thing
 * that is wrong, suitable to print as is.
 */
public class FormatException extends ArborException {
    public FormatException(String message) { super(message); }
    public FormatException(String message, Throwable cause) { super(message, cause); }
}
