package certificates

import "github.com/comuni-italiani/sportello/app/anagrafe"

// The register records each member's relation to the head of the household
// (intestatario della scheda). The certificate request speaks to the person asking, so
// it names the others by their relation to that person ("tuo marito", "tua figlia"):
// the head's relation to a member is the inverse of the member's, and two members are
// related through the head where the register allows it (a child of the head to the
// head's spouse, two children of the head). Where it does not, the page says the
// relation to the head by name ("convivente di ESPOSITO MARCO"), never "intestatario".

// inverse is the head's relation to a member whose relation to the head is the key.
var inverse = map[string]string{
	anagrafe.RelSpouse:      anagrafe.RelSpouse,
	anagrafe.RelPartner:     anagrafe.RelPartner,
	anagrafe.RelChild:       anagrafe.RelParent,
	anagrafe.RelParent:      anagrafe.RelChild,
	anagrafe.RelGrandparent: anagrafe.RelGrandchild,
	anagrafe.RelSibling:     anagrafe.RelSibling,
	anagrafe.RelParentInLaw: anagrafe.RelChildInLaw,
	anagrafe.RelChildInLaw:  anagrafe.RelParentInLaw,
	anagrafe.RelCohabitant:  anagrafe.RelCohabitant,
}

// through is the relation of member B to member A, both related to the head: key
// {A's relation, B's relation}.
var through = map[[2]string]string{
	{anagrafe.RelSpouse, anagrafe.RelChild}:       anagrafe.RelChild,
	{anagrafe.RelPartner, anagrafe.RelChild}:      anagrafe.RelChild,
	{anagrafe.RelChild, anagrafe.RelSpouse}:       anagrafe.RelParent,
	{anagrafe.RelChild, anagrafe.RelPartner}:      anagrafe.RelParent,
	{anagrafe.RelChild, anagrafe.RelChild}:        anagrafe.RelSibling,
	{anagrafe.RelChild, anagrafe.RelParent}:       anagrafe.RelGrandparent,
	{anagrafe.RelSpouse, anagrafe.RelParent}:      anagrafe.RelParentInLaw,
	{anagrafe.RelParent, anagrafe.RelSpouse}:      anagrafe.RelChildInLaw,
	{anagrafe.RelParent, anagrafe.RelChild}:       anagrafe.RelGrandchild,
	{anagrafe.RelChild, anagrafe.RelChildInLaw}:   anagrafe.RelSibling + "_in_law",
	{anagrafe.RelSibling, anagrafe.RelSibling}:    anagrafe.RelSibling,
	{anagrafe.RelSibling, anagrafe.RelParent}:     anagrafe.RelParent,
	{anagrafe.RelParent, anagrafe.RelSibling}:     anagrafe.RelChild,
	{anagrafe.RelGrandchild, anagrafe.RelChild}:   anagrafe.RelParent,
	{anagrafe.RelChildInLaw, anagrafe.RelChild}:   anagrafe.RelSpouse,
	{anagrafe.RelChildInLaw, anagrafe.RelSpouse}:  anagrafe.RelParentInLaw,
	{anagrafe.RelChildInLaw, anagrafe.RelPartner}: anagrafe.RelParentInLaw,
}

// relationTo returns the words naming other by their relation to me, in the
// household whose head is head.
func relationTo(T translator, me, other, head anagrafe.Member) string {
	rel := ""
	switch {
	case me.Relation == anagrafe.RelHead:
		rel = other.Relation
	case other.Relation == anagrafe.RelHead:
		rel = inverse[me.Relation]
	default:
		rel = through[[2]string{me.Relation, other.Relation}]
	}
	// Two sisters-in-law ("cognata") are not worth a key of their own yet.
	if rel == "" || rel == anagrafe.RelSibling+"_in_law" || !relativeWords[rel] {
		return T("certificati.rel.of_head", "Relation", T(other.RelationKey()), "Head", head.FullName())
	}
	return T("certificati.rel." + rel + "." + sexKey(other.Sex))
}

// relativeWords are the relations with "tuo/tua ..." words.
var relativeWords = map[string]bool{
	anagrafe.RelSpouse: true, anagrafe.RelPartner: true, anagrafe.RelChild: true, anagrafe.RelParent: true,
	anagrafe.RelGrandchild: true, anagrafe.RelGrandparent: true, anagrafe.RelSibling: true,
	anagrafe.RelParentInLaw: true, anagrafe.RelChildInLaw: true, anagrafe.RelCohabitant: true,
	anagrafe.RelOtherRelative: true,
}
