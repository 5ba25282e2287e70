// Package cases is the platform's case workflow ("pratiche"): applications that a
// citizen submits, an officer reviews and decides, over days or weeks.
//
// A module declares its case types as data (Type): the states, the allowed
// transitions, who may make each (the citizen, an officer holding the type's role, the
// system), which need a reason or a message, which may carry attachments, the deadline
// each state carries and the attachment caps. The platform owns the rest: the tables,
// protocol numbers, attachments, the message thread, history, assignment, audit and
// the mails to the citizen and the office.
//
// Every transition is one transaction: a conditional UPDATE on the current state (two
// officers acting at once cannot both win: the loser gets ErrConflict), a history row,
// an audit entry, the attachments and message, the mails queued in the outbox, and the
// module's hook, which runs in the same transaction and can veto the change.
//
// Protocol numbers (YYYY/NNNNNN) are given at submission from one counter row per
// year, advanced with UPDATE ... RETURNING inside the submission's transaction: a
// submission that rolls back gives its number back, so the sequence has no gaps.
package cases
