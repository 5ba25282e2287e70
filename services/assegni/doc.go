// Package assegni is the service "Assegni di maternità e per la famiglia": the
// municipal maternity allowance (art. 74 D.Lgs. 151/2001), the repealed allowance for
// households with three or more minor children (art. 65 L. 448/1998, closed to new
// applications since 1 March 2022, replaced by the assegno unico at INPS) and any
// allowance a comune runs on the same pattern (a "bonus bebè"), applied for and
// followed online.
//
// # Schemes as data
//
// A Scheme is one allowance ("measure") of one year: amounts in integer cents (a
// monthly amount times months, or a total), the ISEE threshold (the threshold itself
// is admitted), the months allowed to apply from the birth or the entry into the
// family, who may apply (madre or genitore), the documents required, whether new
// applications are open and the period of events it covers (valid_from, valid_to).
// The portal ships schemes/nazionali.yaml (maternity 2024, 2025, 2026 with INPS's
// figures, the repealed art. 65 allowance) and schemes/valdoria.yaml, the demo
// comune's own fictional bonus bebè (enti: [valdoria]). A comune changes them in its
// configuration:
//
//	modules:
//	  settings:
//	    assegni:
//	      schemes_file: /etc/sportello/assegni.yaml   # a list in the same shape
//	      reminder_days: 15
//	      schemes:                                     # inline, applied last
//	        - id: bonus-bebe-roccabruna-2026
//	          measure: bonus-bebe
//	          year: 2026
//	          enti: [roccabruna]
//	          title_it: "Bonus bebè del Comune di Roccabruna 2026"
//	          total_cents: 30000
//	          isee_threshold_cents: 2500000
//	          deadline_months: 12
//	          applicants: [genitore]
//	          documents: [isee]
//	          open: true
//	          valid_from: 2026-01-01
//	          valid_to: 2026-12-31
//
// A scheme with the id of a shipped one replaces it (a corrected figure); a new id
// adds one. The same pages, form and queue serve every scheme: one case type,
// "domanda", carries the measure in its data.
//
// The schemes are the installation's (the catalogue is read at Mount; a comune's own
// scheme lists its enti). reminder_days may differ per comune: enti[].modules.assegni
// in the configuration or `sportello enti update --id X --set assegni.reminder_days=7`;
// an ente's schemes_file or schemes is refused (logged) and the installation's
// settings apply to it.
//
// # Rules
//
// Evaluate judges an application: the scheme covering the date of the event (the
// birth, or the entry into the family for an adoption or a pre-adoptive foster care),
// open; the applicant resident (register); the mother, where only she may apply; the
// child a current member of her famiglia anagrafica (register) whose relation to the
// head of the household makes it hers (figlio of the head for the head and the
// spouse, partner or cohabitant; nipote for a son or daughter of the head living in
// the parents' household; never a younger brother or sister); the last day to apply
// not past (LastDay: the same day six months later, or that month's last day, as art.
// 2963 c.c. counts months; days turn at midnight in Europe/Rome); the ISEE within the
// threshold; the amount: the full amount less the benefit from work the applicant
// declares (the "quota differenziale"), refused when nothing is left. The rules run
// on the eligibility page, when a draft starts and again inside the submission's
// transaction, where the application is recorded (table assegni_domande); a partial
// unique index (ente_id, measure, child_cf) WHERE active allows one open or granted
// application per child and measure in each comune, whatever the number of
// simultaneous submissions.
//
// # Export for INPS
//
// /backoffice/assegni/esportazione.csv?dal=YYYY-MM-DD&al=YYYY-MM-DD gives the
// applications approved in the period (days in Europe/Rome, both included), oldest
// decision first. No official INPS file layout for this transmission is available to
// this project (comuni transmit through INPS's own web application), so the layout is
// the module's own, made to be mapped onto it: UTF-8, fields separated by ";", one
// header line, then one line per application:
//
//	protocollo                    the case's protocol number, YYYY/NNNNNN
//	data_domanda                  submission date, YYYY-MM-DD
//	data_decisione                approval date, YYYY-MM-DD
//	codice_misura                 the measure ("maternita", "bonus-bebe")
//	anno                          the scheme's year
//	cf_richiedente, richiedente   the applicant's codice fiscale and name
//	cf_figlio, figlio             the child's codice fiscale and name
//	evento                        nascita, adozione or affidamento
//	data_evento                   birth or entry into the family, YYYY-MM-DD
//	isee_centesimi                the ISEE value, in cents
//	protocollo_dsu                INPS-ISEE-YYYY-NNNNNNNNL-NN
//	prestazione_lavoro_centesimi  the declared benefit from work, in cents
//	importo_centesimi             the amount granted, in cents
//	iban, intestatario_conto      where INPS pays
//
// Names starting with = + - @ are prefixed with ' so that a spreadsheet does not
// read them as formulas. Every export is audited (assegni.export).
//
// # Jobs
//
// assegni/promemoria runs daily at 09:00 in every ente (ForEachEnte): a citizen whose
// application is still a draft when its last day to apply is reminder_days away or
// less gets one mail (the reminder row and the mail are one transaction).
package assegni
