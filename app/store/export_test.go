package store

import (
	"database/sql"

	"gorm.io/gorm"
)

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

// Checkpoints returns how many checkpoints of db have run, and how many of them in a
// writer's own call.
func Checkpoints(db *gorm.DB) (all, inline int64) {
	g := gateOf(db)
	return g.checkpoints.Load(), g.inline.Load()
}

// CheckpointEvery and RestartFrames are the checkpoint constants.
const (
	CheckpointEvery = checkpointEvery
	RestartFrames   = restartFrames
)

// KeptStatements returns the texts of the statements kept compiled on conn (SQLite).
func KeptStatements(conn *sql.Conn) (texts []string, err error) {
	err = conn.Raw(func(dc any) error {
		c := dc.(*immediateConn)
		for e := c.stmts.lru.Front(); e != nil; e = e.Next() {
			texts = append(texts, e.Value.(*connStmt).text)
		}
		return nil
	})
	return texts, err
}

// MaxConnStmts is how many statements a connection keeps.
const MaxConnStmts = maxConnStmts
