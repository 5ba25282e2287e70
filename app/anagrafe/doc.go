// Package anagrafe is the population register (anagrafe della popolazione residente)
// the portal reads: people, their households (famiglie anagrafiche and convivenze),
// each person's relation to the head of the household, their residence history and
// the civil-status events (nascita, matrimonio, unione civile, morte) recorded in this
// comune's registers, with the reference of each act.
//
// # Contract
//
// The register is the comune's, not the portal's: it is loaded from the comune's own
// system with Import (the `sportello anagrafe import` command) and read by service
// modules through the query functions (ByFiscalCode, HouseholdOf, ResidenceAt, Events,
// SameHousehold ...). Modules never write to it. A person is known by their codice
// fiscale everywhere; dates of birth, death and events are calendar dates stored at
// 00:00 UTC. Texts shown to people (civil statuses, relations, household kinds, event
// kinds) are message keys in templates/locales/<lang>/anagrafe.yaml, by sex where
// Italian needs it ("coniugato"/"coniugata"): see CivilStatusKey and RelationKey.
//
// A person belongs to at most one household at a time (a partial unique index holds
// this on both dialects); a deceased person's membership and residence end on the day
// of death. The members of a convivenza (such as a care home) are not a family:
// SameHousehold is false between them.
//
// # Import file
//
// A CSV file in UTF-8 (an Excel byte-order mark is accepted), fields separated by
// ";" (as Excel writes CSV in Italian) or ",", detected from the first data line.
// Lines starting with "#" are comments. The first field of every row is its type;
// the others are by position, in this order (empty trailing fields may be left out):
//
//	F  household:  codice; tipo; denominazione; indirizzo
//	   tipo is "famiglia" or "convivenza"; denominazione is required for a
//	   convivenza ("RSA Villa dei Tigli"); indirizzo is the street address in
//	   this comune ("Via Roma 12").
//
//	P  person:     codice_fiscale; cognome; nome; sesso; data_nascita;
//	               comune_nascita; provincia_nascita; stato_nascita; cittadinanza;
//	               stato_civile; data_morte; famiglia; relazione; residente_dal
//	   sesso is M or F; for people born abroad leave comune and provincia empty and
//	   give stato_nascita ("ROMANIA"); cittadinanza is "ITALIA" or the foreign
//	   state; stato_civile is one of celibe_nubile, coniugato, unito_civilmente,
//	   vedovo, divorziato, libero_scioglimento_unione, libero_decesso_unito;
//	   famiglia is the codice of an F row in this file or already imported, and is
//	   required for the living; relazione is one of intestatario, coniuge,
//	   unito_civilmente, convivente, figlio, genero_nuora, nipote, genitore,
//	   suocero, nonno, fratello, altro_parente, altro, responsabile,
//	   membro_convivenza; residente_dal is when the person took up residence at
//	   the household's address.
//
//	E  event:      codice_fiscale; tipo; data; luogo; anno; parte; serie; numero;
//	               cf_altra_parte; nominativo_altra_parte; annotazioni
//	   tipo is nascita, matrimonio, unione_civile or morte; anno, parte, serie and
//	   numero identify the act in this comune's registers; the other party
//	   (nominativo, and the codice fiscale if known) is required for matrimonio and
//	   unione_civile; annotazioni are the act's marginal notes.
//
//	R  past residence: codice_fiscale; indirizzo; comune; provincia; dal; al
//	   comune empty means this comune.
//
// Dates are YYYY-MM-DD or DD/MM/YYYY, from 1850-01-01 up to today (no date of
// birth, death, event or residence in the future). Tax codes are checked (check
// character included) with package codicefiscale. A file that is not UTF-8 (Latin-1
// or Windows-1252, or not text at all) is refused line by line; so is a field with a
// control character (tab and line breaks inside quotes aside) or longer than its
// column in the register (cognome 100 characters, indirizzo 300 ..., any field at
// most 2,000). testdata/esempio.csv is a small complete
// example; DemoCSV produces the demo comune in the same format.
//
// Import is all or nothing (a failed import changes nothing): every row is checked
// first, each on its own, against the rest of the file and against the database
// (unknown household references, events for unknown people), and any problem rejects
// the whole file with ErrRejected and a Report listing each problem with its line
// number. A dry run
// checks and applies the file inside a transaction that is rolled back: the report
// says what would change, and nothing is written. Rows are matched by household code
// and tax code, so importing the same file twice changes nothing. The file is parsed
// and checked before the transaction; inside it the register is read in bulk and new
// rows are written with multi-row INSERTs. On SQLite a first import (nothing in the
// file exists yet) is written in short transactions of 250 rows so that logins do
// not wait behind it; if one fails, the rows already written are deleted again, so a
// failed import still changes nothing, but readers may see part of the new register
// while it runs. Any other import on SQLite is one transaction, which holds the single
// write lock while it writes.
package anagrafe
