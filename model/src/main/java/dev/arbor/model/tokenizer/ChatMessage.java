package dev.arbor.model.tokenizer;

import java.util.Objects;

/** One turn of a conversation, as a chat template sees it: {@code role} is system, user, assistant or tool. */
public record ChatMessage(String role, String content) {
    public ChatMessage {
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(content, "content");
    }
}
