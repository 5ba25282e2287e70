// Package openapi holds the subsets of pagoPA's published OpenAPI documents that the
// payments client speaks (sources in each document's info.description). The contract
// tests validate requests and answers against them.
package openapi

import _ "embed"

// GPD is the subset of GPD v3 (Gestione Posizioni Debitorie).
//
//go:embed gpd_v3_subset.json
var GPD []byte

// Checkout is the subset of the Checkout EC API (POST /carts).
//
//go:embed checkout_ec_subset.json
var Checkout []byte
