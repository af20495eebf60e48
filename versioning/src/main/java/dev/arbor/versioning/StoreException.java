package dev.arbor.versioning;

import dev.arbor.format.ArborException;

/** Bad input concerning the store (unknown reference, damaged blob...): one sentence, printed as is. */
public class StoreException extends ArborException {
    public StoreException(String message) { super(message); }
    public StoreException(String message, Throwable cause) { super(message, cause); }
}
