package dev.arbor.versioning;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileVisitResult;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentLinkedQueue;

/** verify, gc and list: the operations that look at the whole store. */
final class Maintenance {
    private Maintenance() {}

    static VerifyReport verify(Store s) {
        List<String> problems = new ArrayList<>();
        Map<String, List<String>> users = new TreeMap<>();
        Map<String, Long> sizes = new HashMap<>();
        int versions = 0, tags = 0;
        try {
            // Order matters while a writer runs: tags, then manifests, then blobs. A writer
            // publishes blobs before the manifest and the manifest before the tag, so whatever
            // this pass sees referenced was already complete when it looked.
            List<String> models = s.models();
            Map<String, List<Tag>> tagsByModel = new LinkedHashMap<>();
            for (String m : models) {
                try {
                    tagsByModel.put(m, s.tags(m));
                } catch (StoreException e) {
                    problems.add(e.getMessage());
                }
            }
            for (String m : models) {
                List<Integer> numbers = s.numbers(m);
                for (int n : numbers) {
                    Path f = s.versionFile(m, n);
                    Version v;
                    try {
                        byte[] bytes = Files.readAllBytes(f);
                        v = Manifests.parse(f.toString(), bytes);
                        if (!Manifests.idOf(Manifests.readTree(f.toString(), bytes)).equals(v.id())) {
                            problems.add("Manifest " + f + " is damaged: its content does not match its id.");
                        }
                        if (!v.model().equals(m) || v.number() != n) {
                            problems.add("Manifest " + f + " names " + v.label() + " but sits at " + m + "@" + n + ".");
                        }
                    } catch (StoreException | dev.arbor.format.FormatException e) {
                        problems.add(e.getMessage());
                        continue;
                    }
                    versions++;
                    for (Version.Parent p : v.parents()) {
                        if (!Files.isRegularFile(s.versionFile(p.model(), p.number()))) {
                            problems.add(v.label() + " names parent " + p.label() + ", which does not exist.");
                        }
                    }
                    for (Map.Entry<String, Long> b : v.blobs().entrySet()) {
                        users.computeIfAbsent(b.getKey(), k -> new ArrayList<>()).add(v.label());
                        sizes.put(b.getKey(), b.getValue());
                    }
                }
                for (Tag t : tagsByModel.getOrDefault(m, List.of())) {
                    tags++;
                    if (!numbers.contains(t.version())) {
                        problems.add("Tag " + t.label() + " points at " + m + "@" + t.version() + ", which does not exist.");
                    }
                }
            }
            List<String> onDisk = s.blobs().list();
            Set<String> present = new HashSet<>(onDisk);
            ConcurrentLinkedQueue<VerifyReport.DamagedBlob> damaged = new ConcurrentLinkedQueue<>();
            long[] bytes = new long[1];
            onDisk.parallelStream().forEach(h -> {
                Path p = s.blobs().localPath(h);
                try {
                    long size = Files.size(p);
                    synchronized (bytes) { bytes[0] += size; }
                    String actual = Hashing.hexOfFile(p);
                    List<String> usedBy = users.getOrDefault(h, List.of());
                    if (!actual.equals(h)) {
                        damaged.add(new VerifyReport.DamagedBlob(h, "its bytes hash to " + actual.substring(0, 12), usedBy));
                    } else if (sizes.containsKey(h) && sizes.get(h) != size) {
                        damaged.add(new VerifyReport.DamagedBlob(h, "it has " + size + " bytes, its versions expect " + sizes.get(h), usedBy));
                    }
                } catch (NoSuchFileException e) {
                    // removed by gc since the listing: it was unreferenced
                } catch (IOException e) {
                    damaged.add(new VerifyReport.DamagedBlob(h, "it cannot be read (" + e.getMessage() + ")", users.getOrDefault(h, List.of())));
                }
            });
            List<VerifyReport.DamagedBlob> all = new ArrayList<>(damaged);
            for (Map.Entry<String, List<String>> e : users.entrySet()) {
                if (!present.contains(e.getKey())) all.add(new VerifyReport.DamagedBlob(e.getKey(), "it is missing", e.getValue()));
            }
            all.sort(Comparator.comparing(VerifyReport.DamagedBlob::blob));
            int unreferenced = 0;
            for (String h : onDisk) if (!users.containsKey(h)) unreferenced++;
            return new VerifyReport(versions, tags, onDisk.size(), bytes[0], all, problems, temporaries(s).size(), unreferenced);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Runs under the writer lock, so no commit is adding blobs or temporaries meanwhile. */
    static GcReport gc(Store s, boolean dryRun) throws IOException {
        Set<String> used = new HashSet<>();
        for (String m : s.models()) {
            for (Version v : versionsOrRefuse(s, m)) used.addAll(v.blobs().keySet());
        }
        int removed = 0, kept = 0;
        long bytes = 0;
        for (String h : s.blobs().list()) {
            if (used.contains(h)) {
                kept++;
                continue;
            }
            long size = Math.max(0, s.blobs().size(h));
            if (dryRun || s.blobs().delete(h)) {
                removed++;
                bytes += size;
            }
        }
        List<Path> temps = temporaries(s);
        if (!dryRun) for (Path t : temps) Files.deleteIfExists(t);
        return new GcReport(dryRun, removed, bytes, temps.size(), kept);
    }

    private static List<Version> versionsOrRefuse(Store s, String model) {
        try {
            return s.versions(model);
        } catch (StoreException | dev.arbor.format.FormatException e) {
            throw new StoreException("gc stopped before removing anything: " + lowerFirst(e.getMessage()));
        }
    }

    private static String lowerFirst(String m) {
        return m.isEmpty() ? m : Character.toLowerCase(m.charAt(0)) + m.substring(1);
    }

    /** Leftovers of killed writers: temporary blobs, and hidden temp files beside manifests and tags. */
    static List<Path> temporaries(Store s) throws IOException {
        List<Path> out = new ArrayList<>(s.blobs().temporaries());
        List<Path> dirs = new ArrayList<>(List.of(s.root()));
        for (String m : s.models()) {
            dirs.add(s.versionsDir(m));
            dirs.add(s.modelDir(m).resolve("tags"));
        }
        for (Path d : dirs) {
            if (!Files.isDirectory(d)) continue;
            try (DirectoryStream<Path> st = Files.newDirectoryStream(d, ".*.tmp-*")) {
                for (Path p : st) out.add(p);
            }
        }
        return out;
    }

    static Listing list(Store s) {
        try {
            Map<String, Long> real = new HashMap<>();
            long blobBytes = 0;
            for (String h : s.blobs().list()) {
                long size = Math.max(0, s.blobs().size(h));
                real.put(h, size);
                blobBytes += size;
            }
            // "added" is charged to the first version (by creation time) that used a blob
            List<Version> all = new ArrayList<>();
            Map<String, List<Tag>> tags = new LinkedHashMap<>();
            for (String m : s.models()) {
                all.addAll(s.versions(m));
                tags.put(m, s.tags(m));
            }
            all.sort(Comparator.comparing(Version::created).thenComparing(Version::model).thenComparingInt(Version::number));
            Set<String> seen = new HashSet<>();
            Map<Version, Long> added = new HashMap<>();
            for (Version v : all) {
                long a = 0;
                for (String h : v.blobs().keySet()) if (seen.add(h)) a += real.getOrDefault(h, 0L);
                added.put(v, a);
            }
            List<Listing.ModelEntry> models = new ArrayList<>();
            for (String m : tags.keySet()) {
                List<Listing.VersionEntry> entries = new ArrayList<>();
                Set<String> modelBlobs = new HashSet<>();
                for (Version v : all) {
                    if (!v.model().equals(m)) continue;
                    long b = 0;
                    for (String h : v.blobs().keySet()) {
                        b += real.getOrDefault(h, 0L);
                        modelBlobs.add(h);
                    }
                    List<String> names = tags.get(m).stream().filter(t -> t.version() == v.number()).map(Tag::name).toList();
                    entries.add(new Listing.VersionEntry(v, b, added.get(v), names));
                }
                entries.sort(Comparator.comparingInt(e -> e.version().number()));
                long disk = 0;
                for (String h : modelBlobs) disk += real.getOrDefault(h, 0L);
                models.add(new Listing.ModelEntry(m, entries, tags.get(m), disk));
            }
            long[] storeBytes = new long[1];
            Files.walkFileTree(s.root(), new SimpleFileVisitor<>() {
                @Override public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                    if (attrs.isRegularFile()) storeBytes[0] += attrs.size();
                    return FileVisitResult.CONTINUE;
                }

                @Override public FileVisitResult visitFileFailed(Path file, IOException e) {
                    return FileVisitResult.CONTINUE;   // a temporary that vanished while walking
                }
            });
            return new Listing(models, blobBytes, storeBytes[0]);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
