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
