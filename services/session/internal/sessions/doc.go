// Package sessions is the session service's domain: sessions with idle and absolute TTLs,
// their conversation state (checked against package chatstate's table) and bounded history,
// and their versioned key/value state.
//
// Every change goes through one writer goroutine (platform/writer), which applies a drained
// batch in one store transaction and acknowledges it after one sync. Because only that
// goroutine writes, compare-and-set, key counts, the stored-session count and history
// trimming are plain read-modify-write code without locks, and no update can be lost.
// Reads use store snapshots and never wait for the writer.
//
// Time comes from Config.Now, so tests drive expiry without waiting. A session is dead from
// the moment its deadline passes, before the sweeper removes it: every operation checks the
// deadline itself. The sweeper is an item that a ticker submits into the same writer queue;
// it removes due sessions and purges what they owned, in bounded chunks.
//
// Reads renew the idle TTL too. To keep reads off the writer, a read only notes the time in
// memory (type renewals); lookups take the later of that note and the stored time, and each
// sweep persists the notes. A crash can therefore forget renewals by reads of the last sweep
// interval, never those by writes.
package sessions
