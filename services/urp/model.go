package urp

import (
	"fmt"
	"time"
)

// Office is one municipal office open to the public.
type Office struct {
	ID int64 `gorm:"primaryKey"`
	// EnteID is the comune the office belongs to.
	EnteID   string `gorm:"column:ente_id"`
	Slug     string `gorm:"uniqueIndex"`
	NameIT   string `gorm:"column:name_it"`
	NameEN   string `gorm:"column:name_en"`
	DescIT   string `gorm:"column:desc_it"`
	DescEN   string `gorm:"column:desc_en"`
	Address  string
	Phone    string
	Email    string
	NoticeIT string `gorm:"column:notice_it"`
	NoticeEN string `gorm:"column:notice_en"`
	Sort     int
	// UpdatedAt is when staff last changed the office.
	UpdatedAt time.Time
	Hours     []Hours `gorm:"foreignKey:OfficeID"`
}

// TableName fixes the table name.
func (Office) TableName() string { return "urp_offices" }

// Hours is one opening interval on one weekday (1 = Monday ... 7 = Sunday), local time.
type Hours struct {
	ID       int64  `gorm:"primaryKey"`
	EnteID   string `gorm:"column:ente_id"`
	OfficeID int64
	Weekday  int
	Opens    string // "08:30"
	Closes   string // "12:30"
}

// TableName fixes the table name.
func (Hours) TableName() string { return "urp_office_hours" }

// Name returns the office's name in lang.
func (o Office) Name(lang string) string {
	if lang == "en" && o.NameEN != "" {
		return o.NameEN
	}
	return o.NameIT
}

// Description returns the office's description in lang.
func (o Office) Description(lang string) string {
	if lang == "en" && o.DescEN != "" {
		return o.DescEN
	}
	return o.DescIT
}

// Notice returns the office's current notice in lang ("" when there is none).
func (o Office) Notice(lang string) string {
	if lang == "en" && o.NoticeEN != "" {
		return o.NoticeEN
	}
	return o.NoticeIT
}

// isoWeekday maps time.Weekday to 1 (Monday) ... 7 (Sunday).
func isoWeekday(d time.Weekday) int {
	if d == time.Sunday {
		return 7
	}
	return int(d)
}

// OpenAt reports whether the office is open at t (t is converted to loc, the comune's
// time zone).
func (o Office) OpenAt(t time.Time, loc *time.Location) bool {
	t = t.In(loc)
	now := fmt.Sprintf("%02d:%02d", t.Hour(), t.Minute())
	for _, h := range o.Hours {
		if h.Weekday == isoWeekday(t.Weekday()) && h.Opens <= now && now < h.Closes {
			return true
		}
	}
	return false
}

// Day is one weekday's opening intervals, for display.
type Day struct {
	Weekday   int
	Intervals []Hours
}

// Week returns the opening hours grouped by weekday, Monday first; days with no
// interval are included (shown as closed).
func (o Office) Week() []Day {
	days := make([]Day, 7)
	for i := range days {
		days[i].Weekday = i + 1
	}
	for _, h := range o.Hours {
		if h.Weekday >= 1 && h.Weekday <= 7 {
			days[h.Weekday-1].Intervals = append(days[h.Weekday-1].Intervals, h)
		}
	}
	return days
}
