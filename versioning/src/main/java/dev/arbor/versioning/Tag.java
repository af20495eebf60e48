package dev.arbor.versioning;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * A movable name for a version ({@code name:tag}) with every move it made. Rollback walks the
 * moves as a stack: a "set" pushes its target, a "rollback" pops, so repeated rollbacks step
 * back through earlier targets instead of flip-flopping.
 */
public record Tag(String model, String name, int version, String id, List<Move> history) {

    /** One move: who, with what command, when, from which version to which. */
    public record Move(String action, int version, String id, Integer previous, String by, String command, Instant at) {
        public static final String SET = "set";
        public static final String ROLLBACK = "rollback";
    }

    public Tag {
        history = List.copyOf(history);
    }

    public String label() { return model + ":" + name; }

    /** Targets still on the stack, oldest first; the last one is the current target. */
    List<Move> stack() {
        List<Move> s = new ArrayList<>();
        for (Move m : history) {
            if (m.action().equals(Move.ROLLBACK)) {
                if (!s.isEmpty()) s.removeLast();
            } else {
                s.add(m);
            }
        }
        return s;
    }

    /** The target a rollback would move to, or null when there is none. */
    public Move rollbackTarget() {
        List<Move> s = stack();
        return s.size() < 2 ? null : s.get(s.size() - 2);
    }
}
