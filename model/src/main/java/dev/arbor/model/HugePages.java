package dev.arbor.model;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Large anonymous memory for repacked weights, mapped with {@code mmap} and offered to the kernel for transparent
 * huge pages. {@link Arena#allocate} zero-fills on the calling thread, page by 4 KiB page: on this VM that took
 * 0.5 s of every 0.6 s spent repacking a 219 MB model (JFR: {@code SegmentFactories.initNativeMemory}). Mapped
 * here, the pages are faulted in by the threads that first write them, 2 MiB at a time where the kernel allows
 * it. Where mmap is not available (not Linux, or no native access) or refuses, the arena allocates instead.
 */
final class HugePages {
    private HugePages() {}

    private static final long HUGE = 2L << 20;
    private static final int PROT_READ = 1, PROT_WRITE = 2, MAP_PRIVATE = 2, MAP_ANONYMOUS = 0x20, MADV_HUGEPAGE = 14;
    private static final MethodHandle MMAP, MUNMAP, MADVISE;

    static {
        MethodHandle mmap = null, munmap = null, madvise = null;
        // restricted methods: without native access granted (the launcher grants it) the arena allocates
        if (System.getProperty("os.name", "").startsWith("Linux") && HugePages.class.getModule().isNativeAccessEnabled()) {
            try {
                Linker linker = Linker.nativeLinker();
                SymbolLookup libc = linker.defaultLookup();
                mmap = linker.downcallHandle(libc.find("mmap").orElseThrow(), FunctionDescriptor.of(ValueLayout.ADDRESS,
                        ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG));
                munmap = linker.downcallHandle(libc.find("munmap").orElseThrow(), FunctionDescriptor.of(ValueLayout.JAVA_INT,
                        ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
                madvise = linker.downcallHandle(libc.find("madvise").orElseThrow(), FunctionDescriptor.of(ValueLayout.JAVA_INT,
                        ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
            } catch (RuntimeException | Error e) {   // no native access: the arena allocates
                mmap = munmap = madvise = null;
            }
        }
        MMAP = mmap;
        MUNMAP = munmap;
        MADVISE = madvise;
    }

    /** bytes of zeroed memory, 2 MiB-aligned where mapped, freed when the arena closes. */
    static MemorySegment allocate(long bytes, Arena arena) {
        if (MMAP == null || bytes < HUGE) return arena.allocate(bytes, 64);
        long size = bytes + HUGE;   // room to align the start to a huge page
        MemorySegment at;
        try {
            at = (MemorySegment) MMAP.invokeExact(MemorySegment.NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0L);
        } catch (Throwable e) {
            return arena.allocate(bytes, 64);
        }
        if (at.address() == -1L) return arena.allocate(bytes, 64);   // MAP_FAILED
        MemorySegment mapped = at.reinterpret(size, arena, HugePages::unmap);
        long skip = Math.floorMod(-mapped.address(), HUGE);
        MemorySegment aligned = mapped.asSlice(skip, bytes);
        try {
            int ignored = (int) MADVISE.invokeExact(aligned, bytes, MADV_HUGEPAGE);   // a hint: 4 KiB pages otherwise
        } catch (Throwable e) {
            // still usable with small pages
        }
        return aligned;
    }

    private static void unmap(MemorySegment mapped) {
        try {
            int ignored = (int) MUNMAP.invokeExact(mapped, mapped.byteSize());
        } catch (Throwable e) {
            throw new IllegalStateException("munmap failed", e);
        }
    }
}
