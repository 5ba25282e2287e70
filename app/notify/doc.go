// Package notify is the portal's mail outbox: modules record mails in the database, a
// background Worker delivers them.
//
// The contract:
//
//   - A module enqueues a mail with Outbox.Enqueue on the same *gorm.DB transaction as the
//     state change the mail announces, so the mail exists if and only if the change
//     committed. Enqueue validates the message and refuses bad input with
//     ErrInvalidMessage; it never talks to a mail server.
//   - Any number of portal processes may run a Worker against one database. A worker
//     claims a message with an atomic conditional UPDATE (status, a fresh claim token and
//     a lease) and only the process whose UPDATE affected the row sends it; the outcome is
//     recorded only while that claim token still stands. There is no SELECT ... FOR UPDATE
//     and the same code runs on PostgreSQL and SQLite.
//   - While a message is being sent its lease is renewed, so a live process keeps its
//     claim. If a process dies mid-send the lease runs out and another process sends the
//     message again. That is the only case of a repeated delivery (SMTP offers no
//     transaction to join): the repeat carries the same Message-ID, so mail clients can
//     drop the duplicate.
//   - Temporary failures (SMTP 4xx, network, authentication, TLS) are retried with
//     exponential backoff and jitter up to WorkerOptions.MaxAttempts. Permanent ones (5xx
//     for the recipient or the content, see Permanent) fail the message at once. Failed
//     and sent messages are kept; last_error holds a short, password-free reason.
//   - Dev mode: with no Sender (no SMTP configured) the Outbox stores messages as held.
//     Held messages are never sent, even once SMTP is configured later; staff read them
//     with List and Get (the dev mailbox page).
//   - Times are stored in UTC. The worker compares them with its own clock
//     (WorkerOptions.Now), never the database's, so tests can move time.
//   - Logs carry message ids, kinds, attempt counts and SMTP replies (with the
//     recipient's address masked), never subjects or bodies.
package notify
