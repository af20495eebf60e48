package dev.arbor.versioning;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/** Tag files ({@code models/NAME/tags/TAG.json}): the current target and every move. */
final class Tags {
    private Tags() {}

    static byte[] toBytes(Tag t) {
        ObjectNode o = Manifests.JSON.createObjectNode();
        o.put("schema", Manifests.SCHEMA);
        o.put("model", t.model());
        o.put("tag", t.name());
        o.put("version", t.version());
        o.put("id", t.id());
        ArrayNode h = o.putArray("history");
        for (Tag.Move m : t.history()) {
            ObjectNode e = h.addObject().put("action", m.action()).put("version", m.version()).put("id", m.id());
            if (m.previous() == null) e.putNull("previous"); else e.put("previous", m.previous());
            e.put("by", m.by());
            if (m.command() == null) e.putNull("command"); else e.put("command", m.command());
            e.put("at", m.at().toString());
        }
        return Manifests.bytes(o);
    }

    static Tag parse(String where, byte[] bytes) {
        JsonNode o;
        try {
            o = Manifests.JSON.readTree(bytes);
        } catch (java.io.IOException e) {
            throw new StoreException("Tag file " + where + " is damaged: it is not valid JSON.");
        }
        if (o == null || !o.isObject()) throw new StoreException("Tag file " + where + " is damaged: it is not a JSON object.");
        Manifests.checkSchema("Tag file " + where, o);
        try {
            List<Tag.Move> moves = new ArrayList<>();
            for (JsonNode m : o.required("history")) {
                JsonNode prev = m.get("previous"), cmd = m.get("command");
                moves.add(new Tag.Move(m.required("action").asText(), m.required("version").asInt(), m.required("id").asText(),
                        prev == null || prev.isNull() ? null : prev.asInt(), m.required("by").asText(),
                        cmd == null || cmd.isNull() ? null : cmd.asText(), Instant.parse(m.required("at").asText())));
            }
            return new Tag(o.required("model").asText(), o.required("tag").asText(), o.required("version").asInt(),
                    o.required("id").asText(), moves);
        } catch (IllegalArgumentException | java.time.DateTimeException e) {
            throw new StoreException("Tag file " + where + " is damaged: " + e.getMessage() + ".");
        }
    }
}
