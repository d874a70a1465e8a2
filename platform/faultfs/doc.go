// Package faultfs is a FUSE loopback filesystem for power-loss tests: it remembers what has
// been made durable, and a power cut throws away everything that has not.
//
// Every operation reaches the backing directory at once (so reads, memory maps and the kernel's
// page cache behave as on any filesystem), and the filesystem keeps what it needs to undo it:
//
//   - Data. For each file it keeps the size at the last fsync or fdatasync and the old content
//     of every 4 KiB page changed or truncated away since. An fsync of the file (msync(MS_SYNC)
//     of a shared mapping reaches it as one) forgets them: the file's current content is
//     durable. The backing directory itself is never fsynced: the fault is this filesystem's,
//     not the host's.
//   - Names. Creates, mkdirs, renames, unlinks and rmdirs are kept in a journal, in order; an
//     unlinked or replaced file is moved aside, not deleted. An fsync of a directory makes the
//     whole journal up to that moment durable, as a journaling filesystem commits its log in
//     order (POSIX promises only that directory's entries; every directory is committed so the
//     journal stays a prefix). By default an fsync of a regular file commits no names: POSIX
//     does not promise it, so that is the conservative model.
//   - Options.OrderedMetadata models ext4 (data=ordered) and XFS instead: sizes set by
//     truncate are journaled with the names, and an fsync of any file or directory commits
//     the whole journal (so a file's fsync also makes its creation durable). A file grown by
//     a committed truncate reads as zeros past its synced data. Written data still needs its
//     own file's fsync.
//
// Cut is the power cut: from that moment every operation that would change the disk fails with
// EIO, as a dead disk would (writes the kernel still flushes from its page cache are refused,
// so they are lost too). Unmount after Cut undoes, in reverse order, every name change not
// committed (a file created but never committed disappears, even if its data was fsynced;
// an unlink or rename not committed is undone), then puts every file back to its last-synced
// size and content. The backing directory then holds what a disk would after the cut, and
// can be mounted again. Unmount without Cut is a clean shutdown: everything is kept.
//
// Not modelled: hard links, symlinks, special files, copy_file_range and ioctls are refused
// (ENOTSUP) rather than modelled wrongly; metadata (mode, times, xattrs) is never undone; a cut
// never keeps part of the unsynced writes (a real disk may keep any subset of them, or tear a
// page): it always goes back to the last sync, the harshest outcome for the newest data.
//
// A process must not memory-map files of a mount it serves itself: a thread faulting in a page
// waits for the server's goroutines, and a garbage collection that stops them for that thread
// deadlocks. Run the code under test in a child process. Mounting needs root and /dev/fuse
// (mount(2) is called directly; fusermount3, from Debian's fuse3 package, is the fallback).
package faultfs
