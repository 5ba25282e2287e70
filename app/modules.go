package app

import (
	"github.com/comuni-italiani/sportello/services"
	"github.com/comuni-italiani/sportello/services/appuntamenti"
	"github.com/comuni-italiani/sportello/services/assegni"
	"github.com/comuni-italiani/sportello/services/certificates"
	"github.com/comuni-italiani/sportello/services/urp"
	"github.com/comuni-italiani/sportello/services/ztl"
)

// Builtin is the explicit list of the portal's service modules, in catalogue order.
// A new service is one package under services/ and one line here.
func Builtin() []services.Module {
	return []services.Module{
		certificates.New(),
		urp.New(),
		assegni.New(),
		ztl.New(),
		appuntamenti.New(),
	}
}
