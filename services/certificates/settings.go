package certificates

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/payments"
	"github.com/comuni-italiani/sportello/config"
)

// Exemption is one legal reason for issuing a certificate without stamp duty, chosen
// by the citizen, printed on the certificate and recorded with it.
type Exemption struct {
	// Code identifies the exemption in forms and records ("pensioni").
	Code string `yaml:"code"`
	// Text is the use in Italian, as printed ("Pensioni, previdenza e assistenza
	// sociale obbligatoria"); TextEN its English version for the page.
	Text   string `yaml:"text"`
	TextEN string `yaml:"text_en"`
	// Reference is the legal basis, as printed ("art. 9 della Tabella B allegata al
	// DPR 642/1972").
	Reference string `yaml:"reference"`
	// Plain says the use in everyday words for the request form ("Per una pratica di
	// pensione ..."), PlainEN in English; empty: the form shows Text.
	Plain   string `yaml:"plain"`
	PlainEN string `yaml:"plain_en"`
}

// Label returns the exemption's use in lang.
func (e Exemption) Label(lang string) string {
	if lang == "en" && e.TextEN != "" {
		return e.TextEN
	}
	return e.Text
}

// Choice is the exemption as the request form offers it: the use in everyday words
// (else its Label); the form adds the legal reference after it.
func (e Exemption) Choice(lang string) string {
	if lang == "en" && e.PlainEN != "" {
		return e.PlainEN
	}
	if lang != "en" && e.Plain != "" {
		return e.Plain
	}
	return e.Label(lang)
}

// DefaultExemptions are the commonest exemptions for register certificates, from
// Tabella B annexed to DPR 26 ottobre 1972, n. 642 and special laws. A comune
// replaces the list with modules.settings.certificati.exemptions.
var DefaultExemptions = []Exemption{
	{Code: "assistenza", Text: "Assistenza e beneficenza (ammissione a istituti, sussidi)",
		TextEN:    "Welfare and charity (admission to institutions, benefits)",
		Reference: "art. 8 della Tabella B allegata al DPR 642/1972",
		Plain:     "Per chiedere un sussidio, un aiuto economico o l'ammissione a una struttura di assistenza", PlainEN: "To apply for a benefit, financial help or admission to a care home"},
	{Code: "pensioni", Text: "Pensioni, previdenza e assicurazioni sociali obbligatorie",
		TextEN:    "Pensions, social security and compulsory social insurance",
		Reference: "art. 9 della Tabella B allegata al DPR 642/1972",
		Plain:     "Per una pratica di pensione, di previdenza o di assicurazione sociale obbligatoria", PlainEN: "For a pension, social security or compulsory insurance matter"},
	{Code: "assegni_familiari", Text: "Assegni familiari", TextEN: "Family allowances",
		Reference: "art. 9 della Tabella B allegata al DPR 642/1972",
		Plain:     "Per chiedere gli assegni familiari", PlainEN: "To apply for family allowances"},
	{Code: "scuola", Text: "Iscrizione a scuole e asili, borse di studio, esenzione dalle tasse scolastiche",
		TextEN:    "School and nursery enrolment, study grants, school-fee exemptions",
		Reference: "art. 11 della Tabella B allegata al DPR 642/1972",
		Plain:     "Per l'iscrizione a scuola o all'asilo, per una borsa di studio o per l'esonero dalle tasse scolastiche", PlainEN: "To enrol at a school or nursery, for a study grant or a school-fee exemption"},
	{Code: "lavoro", Text: "Controversie di lavoro, di pubblico impiego e di previdenza",
		TextEN:    "Labour, public employment and social security disputes",
		Reference: "art. 12 della Tabella B allegata al DPR 642/1972 e art. 10 della L. 533/1973",
		Plain:     "Per una causa di lavoro, di pubblico impiego o di previdenza", PlainEN: "For a labour, public employment or social security case"},
	{Code: "adozione", Text: "Adozione, affidamento e tutela dei minori",
		TextEN:    "Adoption, foster care and guardianship of minors",
		Reference: "art. 13 della Tabella B allegata al DPR 642/1972 e art. 82 della L. 184/1983",
		Plain:     "Per un'adozione, un affidamento o la tutela di un minore", PlainEN: "For an adoption, foster care or the guardianship of a child"},
	{Code: "separazione_divorzio", Text: "Procedimenti di separazione e di divorzio",
		TextEN: "Separation and divorce proceedings", Reference: "art. 19 della L. 74/1987",
		Plain: "Per una separazione o un divorzio", PlainEN: "For a separation or a divorce"},
	{Code: "penale", Text: "Procedimenti penali", TextEN: "Criminal proceedings",
		Reference: "art. 3 della Tabella B allegata al DPR 642/1972",
		Plain:     "Per un procedimento penale", PlainEN: "For criminal proceedings"},
	{Code: "elettorale", Text: "Esercizio dei diritti elettorali", TextEN: "Exercise of electoral rights",
		Reference: "art. 1 della Tabella B allegata al DPR 642/1972",
		Plain:     "Per votare o per candidarsi alle elezioni", PlainEN: "To vote or to stand in an election"},
	{Code: "sport", Text: "Società e associazioni sportive dilettantistiche (tesseramento)",
		TextEN:    "Amateur sports clubs (membership)",
		Reference: "art. 8-bis della Tabella B allegata al DPR 642/1972",
		Plain:     "Per il tesseramento in una società o associazione sportiva dilettantistica", PlainEN: "To join an amateur sports club or association"},
	{Code: "onlus", Text: "Richiesta da ONLUS o ente del Terzo settore",
		TextEN:    "Requested by a non-profit (ONLUS or Third-sector body)",
		Reference: "art. 27-bis della Tabella B allegata al DPR 642/1972 e art. 82, comma 5, del D.Lgs. 117/2017",
		Plain:     "Per conto di un'associazione ONLUS o di un ente del Terzo settore", PlainEN: "On behalf of a non-profit (ONLUS or Third-sector body)"},
}

// CivilStatusExemption is the exemption every civil-status certificate carries by
// law: nascita, matrimonio and unione civile certificates are never subject to stamp
// duty.
var CivilStatusExemption = Exemption{
	Code:      "stato_civile",
	Text:      "Certificato di stato civile",
	TextEN:    "Civil-status certificate",
	Reference: "art. 7, comma 5, della L. 29 dicembre 1990, n. 405",
}

// Settings are the module's own configuration, modules.settings.certificati:
//
//	key_dir: /var/lib/sportello/keys/stamp   # stamp key ring; default <data_dir>/keys/stamp
//	bollo_cents: 1600                        # stamp duty, euro cents; default 1600 (16,00 €)
//	office_anagrafe: "Servizi Demografici - Ufficio Anagrafe"
//	office_stato_civile: "Servizi Demografici - Ufficio di Stato Civile"
//	verify_rate_per_minute: 30               # per client IP and process; -1 disables
//	exemptions: [{code, text, text_en, reference}, ...]   # default DefaultExemptions
//	bollo_province: TO                       # with pagoPA: the duty is paid online first
//	bollo_category: "9/CCMMSSSRR/"           # taxonomy code of the duty's transfer
type Settings struct {
	KeyDir              string      `yaml:"key_dir"`
	BolloCents          int64       `yaml:"bollo_cents"`
	OfficeAnagrafe      string      `yaml:"office_anagrafe"`
	OfficeStatoCivile   string      `yaml:"office_stato_civile"`
	VerifyRatePerMinute int         `yaml:"verify_rate_per_minute"`
	Exemptions          []Exemption `yaml:"exemptions"`
	// BolloProvince is the province (sigla, "RM") pagoPA's marca da bollo digitale
	// asks for. With it and pagoPA connected (payments.pagopa), a certificate in
	// bollo is issued once the duty is paid through pagoPA; without either, the
	// citizen applies a revenue stamp as before.
	BolloProvince string `yaml:"bollo_province"`
	// BolloCategory is the transferCategory of the marca da bollo digitale's transfer:
	// a code of pagoPA's "tassonomia dei servizi di incasso" (9/CCMMSSSRR/) that
	// "can be traced to the digital stamp duty", as pagoPA's @e.bollo documentation
	// requires (pagopa/devportal-docs, creditor/e.bollo-service.md). The published
	// sources searched for this module name no such code, so it is the comune's to
	// set from the taxonomy (https://api.platform.pagopa.it/taxonomy/service/v1/taxonomy)
	// or as its partner tecnologico indicates; empty means payments.DefaultCategory.
	BolloCategory string `yaml:"bollo_category"`
}

// DefaultBolloCents is the stamp duty on a certificate: 16,00 € (DPR 642/1972,
// Tariffa allegato A, parte prima, art. 4, as amended by DL 43/2013).
const DefaultBolloCents = 1600

// DefaultVerifyRate is how many verification requests a client IP may make per minute.
const DefaultVerifyRate = 30

// LoadSettings reads the module's settings from cfg and fills in the defaults.
func LoadSettings(cfg config.Config) (Settings, error) {
	var s Settings
	if err := cfg.DecodeModule(ID, &s); err != nil {
		return s, err
	}
	if s.KeyDir == "" {
		s.KeyDir = filepath.Join(cfg.DataDir, "keys", "stamp")
	}
	if s.VerifyRatePerMinute == 0 {
		s.VerifyRatePerMinute = DefaultVerifyRate
	}
	s = s.withDefaults()
	return s, s.Validate()
}

// withDefaults fills the per-ente settings left empty with the defaults.
func (s Settings) withDefaults() Settings {
	if s.BolloCents == 0 {
		s.BolloCents = DefaultBolloCents
	}
	if s.OfficeAnagrafe == "" {
		s.OfficeAnagrafe = "Servizi Demografici - Ufficio Anagrafe"
	}
	if s.OfficeStatoCivile == "" {
		s.OfficeStatoCivile = "Servizi Demografici - Ufficio di Stato Civile"
	}
	if len(s.Exemptions) == 0 {
		s.Exemptions = DefaultExemptions
	}
	return s
}

// Validate refuses settings that cannot work (an empty value means the default).
func (s Settings) Validate() error {
	if s.BolloCents < 0 {
		return fmt.Errorf("config: modules.settings.%s.bollo_cents must be positive", ID)
	}
	seen := map[string]bool{CivilStatusExemption.Code: true}
	for i, e := range s.Exemptions {
		if e.Code == "" || e.Text == "" || e.Reference == "" || seen[e.Code] || strings.ContainsAny(e.Code, " /") {
			return fmt.Errorf("config: modules.settings.%s.exemptions[%d]: code (unique, no spaces), text and reference are required", ID, i)
		}
		seen[e.Code] = true
	}
	if s.BolloProvince != "" && !provinceRE.MatchString(s.BolloProvince) {
		return fmt.Errorf("config: modules.settings.%s.bollo_province: must be a province abbreviation such as RM", ID)
	}
	if s.BolloCategory != "" && !payments.ValidCategory(s.BolloCategory) {
		return fmt.Errorf("config: modules.settings.%s.bollo_category: must be a pagoPA taxonomy code such as 9/0101002IM/", ID)
	}
	return nil
}

// settingsFor returns the settings in force for the ente of ctx: the installation's
// (modules.settings.certificati) with the ente's own laid over them
// (enti[].modules.certificati, `sportello enti update --set certificati.<key>=<value>`).
// Every per-comune read goes through it: bollo_cents, the two offices of the
// letterhead, exemptions, bollo_province and bollo_category. key_dir (the key ring's
// directory; each ente's keys are in key_dir/enti/<id>) and verify_rate_per_minute
// (one limiter per process, built at Mount) are installation-wide: an ente's settings
// that change them are refused here. Refused settings (also ones changed in the
// database while the portal runs that no longer validate) are logged and the
// installation's are used.
//
// The result is kept for each ente, with the ente's record it was decoded from: the
// registry replaces an ente's record when the ente changes, and the next read decodes
// the new one (decoding the YAML took a fiftieth of issuing a certificate).
func (m *Module) settingsFor(ctx context.Context) Settings {
	e := enti.FromContext(ctx)
	if e != nil {
		if v, ok := m.settingsMemo.Load(e.ID); ok && v.(settingsMemo).ente == e {
			return v.(settingsMemo).s
		}
	}
	s := m.decodeSettings(ctx)
	if e != nil {
		m.settingsMemo.Store(e.ID, settingsMemo{ente: e, s: s})
	}
	return s
}

// settingsMemo is an ente's settings and the record they were decoded from.
type settingsMemo struct {
	ente *enti.Ente
	s    Settings
}

// decodeSettings is settingsFor without the memo.
func (m *Module) decodeSettings(ctx context.Context) Settings {
	s := m.settings
	if m.settingsOf == nil {
		return s
	}
	err := m.settingsOf(ctx, &s)
	if s.KeyDir == "" {
		s.KeyDir = m.settings.KeyDir // the default, <data_dir>/keys/stamp
	}
	if s.VerifyRatePerMinute == 0 {
		s.VerifyRatePerMinute = DefaultVerifyRate
	}
	if err == nil && (s.KeyDir != m.settings.KeyDir || s.VerifyRatePerMinute != m.settings.VerifyRatePerMinute) {
		err = fmt.Errorf("certificati: key_dir and verify_rate_per_minute are installation-wide (modules.settings.%s)", ID)
	}
	if err != nil {
		if m.log != nil {
			m.log.ErrorContext(ctx, "certificati: settings of the ente refused, using the installation's", "err", err)
		}
		return m.settings
	}
	return s.withDefaults()
}

func (s Settings) exemption(code string) (Exemption, bool) {
	for _, e := range s.Exemptions {
		if e.Code == code {
			return e, true
		}
	}
	return Exemption{}, false
}

// euro formats cents as Italian money: "16,00 €".
func euro(cents int64) string {
	return fmt.Sprintf("%d,%02d €", cents/100, cents%100)
}
