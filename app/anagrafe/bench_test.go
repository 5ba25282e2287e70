package anagrafe

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/codicefiscale"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/store/storetest"
)

// generateRegister writes a fictional register of about n persons in households of
// one to five (a head, a spouse, children), each person with a birth event, in the
// import format. The same n always gives the same file.
func generateRegister(n int) []byte {
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	surnames := []string{"ROSSI", "BIANCHI", "ESPOSITO", "ROMANO", "COLOMBO", "RICCI", "MARINO", "GRECO", "BRUNO", "GALLO",
		"CONTI", "DE LUCA", "MANCINI", "COSTA", "GIORDANO", "RIZZO", "LOMBARDI", "MORETTI", "BARBIERI", "FONTANA"}
	names := map[bool][]string{
		false: {"MARIO", "LUCA", "GIUSEPPE", "MARCO", "ANDREA", "PAOLO", "FRANCESCO", "STEFANO", "DAVIDE", "MATTEO"},
		true:  {"ANNA", "GIULIA", "MARIA", "SARA", "CHIARA", "FRANCESCA", "ELENA", "LAURA", "SOFIA", "MARTA"},
	}
	places := []struct{ comune, prov, belfiore string }{{"ROMA", "RM", "H501"}, {"MILANO", "MI", "F205"},
		{"TORINO", "TO", "L219"}, {"NAPOLI", "NA", "F839"}, {"LIVORNO", "LI", "E625"}}
	seen := map[string]bool{}
	var b bytes.Buffer
	person := func(hh string, rel string, female bool, birth time.Time, civil string) {
		pl := places[rng.IntN(len(places))]
		for {
			sn := surnames[rng.IntN(len(surnames))]
			nm := names[female][rng.IntN(len(names[female]))]
			cf, err := codicefiscale.Compute(sn, nm, birth, female, pl.belfiore)
			if err != nil || seen[cf] {
				birth = birth.AddDate(0, 0, 1+rng.IntN(300))
				if birth.After(time.Now().AddDate(0, 0, -1)) {
					birth = Date(1930+rng.IntN(60), time.Month(1+rng.IntN(12)), 1+rng.IntN(28))
				}
				continue
			}
			seen[cf] = true
			sex := Male
			if female {
				sex = Female
			}
			since := birth.AddDate(20, 0, 0)
			if since.After(time.Now()) || rel == RelChild {
				since = birth
			}
			fmt.Fprintf(&b, "P;%s;%s;%s;%s;%s;%s;%s;;ITALIA;%s;;%s;%s;%s\n", cf, sn, nm, sex, birth.Format("2006-01-02"),
				pl.comune, pl.prov, civil, hh, rel, since.Format("2006-01-02"))
			fmt.Fprintf(&b, "E;%s;nascita;%s;%s (%s);%d;I;A;%d;;;\n", cf, birth.Format("2006-01-02"), pl.comune, pl.prov,
				birth.Year(), 1+rng.IntN(999))
			return
		}
	}
	persons := 0
	for h := 0; persons < n; h++ {
		code := "G" + strconv.Itoa(h)
		fmt.Fprintf(&b, "F;%s;famiglia;;Via dei Generati %d\n", code, h+1)
		size := 1 + rng.IntN(5)
		y := 1940 + rng.IntN(50)
		female := rng.IntN(2) == 0
		civil := CivilSingle
		if size > 1 {
			civil = CivilMarried
		}
		person(code, RelHead, female, Date(y, time.Month(1+rng.IntN(12)), 1+rng.IntN(28)), civil)
		persons++
		for m := 1; m < size && persons < n; m++ {
			if m == 1 {
				person(code, RelSpouse, !female, Date(y+rng.IntN(5), time.Month(1+rng.IntN(12)), 1+rng.IntN(28)), CivilMarried)
			} else {
				person(code, RelChild, rng.IntN(2) == 0, Date(y+25+rng.IntN(10), time.Month(1+rng.IntN(12)), 1+rng.IntN(28)), CivilSingle)
			}
			persons++
		}
	}
	return b.Bytes()
}

// benchPersons is the register size of BenchmarkImport: 1,000 by default,
// SPORTELLO_BENCH_IMPORT_PERSONS=150000 for a comune the size of Livorno
// (scripts/bench-import.sh).
func benchPersons() int {
	if n, err := strconv.Atoi(os.Getenv("SPORTELLO_BENCH_IMPORT_PERSONS")); err == nil && n > 0 {
		return n
	}
	return 1000
}

// cpuSeconds is the CPU time (user and system) this process has used.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// BenchmarkImport imports a generated register into an empty database, on SQLite and
// PostgreSQL. ns/op is the whole import; persons/s the rate; cpu-s/op the CPU time of
// this process (the importer, and SQLite itself, not the PostgreSQL server), which
// varies less than the wall time on a shared machine. Meanwhile another connection
// reads a person and writes a row (what a login does) every 20 ms: read-max-ms and
// write-max-ms are the slowest of each, the stall a visitor would feel; write-p99-ms
// the 99th percentile of the writes.
func BenchmarkImport(b *testing.B) {
	n := benchPersons()
	file := generateRegister(n)
	for _, d := range storetest.Dialects {
		b.Run(fmt.Sprintf("%s/persons=%d", d, n), func(b *testing.B) {
			var cpu float64
			var readMax, writeMax time.Duration
			var writes []time.Duration
			for b.Loop() {
				b.StopTimer()
				db := storetest.Open(b, d, Migrations())
				if err := db.Exec(`CREATE TABLE bench_probe (id INTEGER PRIMARY KEY, at TEXT NOT NULL)`).Error; err != nil {
					b.Fatal(err)
				}
				stop := make(chan struct{})
				done := make(chan struct{})
				go func() {
					defer close(done)
					for i := 1; ; i++ {
						select {
						case <-stop:
							return
						case <-time.After(20 * time.Millisecond):
						}
						t0 := time.Now()
						var p Person
						db.Where("id = ?", i%50+1).Limit(1).Find(&p)
						readMax = max(readMax, time.Since(t0))
						t0 = time.Now()
						if err := db.Exec(`INSERT INTO bench_probe (id, at) VALUES (?, ?)`, i, t0.String()).Error; err != nil {
							b.Error(err)
						}
						writeMax = max(writeMax, time.Since(t0))
						writes = append(writes, time.Since(t0))
					}
				}()
				c0 := cpuSeconds()
				b.StartTimer()
				rep, err := Import(context.Background(), db, bytes.NewReader(file), false)
				b.StopTimer()
				cpu += cpuSeconds() - c0
				close(stop)
				<-done
				if err != nil || rep.Persons.Created != n {
					b.Fatalf("import: %v, %d persons\n%.2000s", err, rep.Persons.Created, rep.String())
				}
				store.Close(db)
				b.StartTimer()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "persons/s")
			b.ReportMetric(cpu/float64(b.N), "cpu-s/op")
			b.ReportMetric(float64(readMax.Microseconds())/1000, "read-max-ms")
			b.ReportMetric(float64(writeMax.Microseconds())/1000, "write-max-ms")
			if len(writes) > 0 {
				slices.Sort(writes)
				b.ReportMetric(float64(writes[len(writes)*99/100].Microseconds())/1000, "write-p99-ms")
			}
		})
	}
}

// TestGeneratedRegisterImports: the benchmark's generator makes a file the importer
// accepts, and importing it twice changes nothing the second time.
func TestGeneratedRegisterImports(t *testing.T) {
	t.Parallel()
	file := generateRegister(300)
	storetest.Each(t, Migrations(), func(t *testing.T, db *gorm.DB) {
		rep, err := Import(context.Background(), db, bytes.NewReader(file), false)
		if err != nil || rep.Persons.Created != 300 || rep.Events.Created != 300 {
			t.Fatalf("first import: %v\n%.2000s", err, rep.String())
		}
		rep, err = Import(context.Background(), db, bytes.NewReader(file), false)
		if err != nil || rep.Persons.Unchanged != 300 || rep.Events.Unchanged != 300 || rep.Households.Unchanged != rep.Households.Created+rep.Households.Unchanged {
			t.Fatalf("second import: %v\n%s", err, rep.String())
		}
	})
}
