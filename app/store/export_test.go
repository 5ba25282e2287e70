package store

import "gorm.io/gorm"

// WritersWaiting is the number of writers queued at db's write gate (SQLite only).
func WritersWaiting(db *gorm.DB) int64 {
	sqlDB, err := db.DB()
	if err != nil {
		return -1
	}
	g, ok := gates.Load(sqlDB)
	if !ok {
		return -1
	}
	return g.(*writeGate).waiting.Load()
}

func gateOf(db *gorm.DB) *writeGate {
	sqlDB, err := db.DB()
	if err != nil {
		return nil
	}
	g, ok := gates.Load(sqlDB)
	if !ok {
		return nil
	}
	return g.(*writeGate)
}

// SetCheckpointHook makes fn run as each checkpoint of db begins (SQLite only).
func SetCheckpointHook(db *gorm.DB, fn func()) { gateOf(db).hook.Store(&fn) }

// Checkpoints returns how many checkpoints of db have run, and how many of them inside
// the write gate.
func Checkpoints(db *gorm.DB) (all, gated int64) {
	g := gateOf(db)
	return g.checkpoints.Load(), g.gated.Load()
}

// CheckpointEvery and RestartFrames are the checkpoint constants.
const (
	CheckpointEvery = checkpointEvery
	RestartFrames   = restartFrames
)
