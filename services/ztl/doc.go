// Package ztl is the "Permessi ZTL" service: permits to drive into the comune's limited
// traffic zones (zone a traffico limitato), the whitelist the gate cameras poll, and
// the citizen's own transits through the gates.
//
// Permit categories (residents, disabled badge holders, deliveries and businesses,
// temporary) are data in ztl_categories, each with its zones, validity, fee in cents,
// required documents and renewal rule. An application is a case of app/cases (type
// ztl/permesso); its approval creates the permit in the transition's transaction, with
// one whitelist line (ztl_access) per plate and zone. Lines are never deleted: a
// plate change ends them, a revocation marks them, so the police can ask whether a
// plate was allowed at any past instant.
//
// Gate systems authenticate with keys (only their SHA-256 is kept, the key is shown
// once) and read the plates allowed now per zone as JSON or CSV, with an ETag cheap
// to compute (three index lookups) and a "changes since" form; they post transits
// (plate, gate, zone, time, photo), idempotent on their own record id. The API is
// documented in openapi.yaml, which the tests check the real responses against.
//
// The permit PDF carries the comune's digital stamp (app/stamp) with a QR code that
// opens /verifica/ztl/<code>: valid, revoked or expired, with plates and zones.
//
// Settings (modules.settings.ztl for the installation, enti[].modules.ztl or
// `sportello enti update --set ztl.<key>=<value>` for one comune; 0 means the default):
//
//	photo_retention_days: 30  # transit photos kept, 0-3650
//	reminder_days: 30         # expiry reminder before a permit (or badge) ends, 0-365
//	pagopa_fees: false        # fees through pagoPA: a permit is granted "da pagare"
//	fee_reminder_days: 7      # with pagopa_fees: reminder before the fee's due date
//	                          # (due 30 days after the approval), 0-29
package ztl
