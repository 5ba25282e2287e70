package certificates

import (
	"context"

	"github.com/comuni-italiani/sportello/services"
)

// Commands implements services.Commands: `sportello certificati keys ...` manages the
// stamp's key ring and `sportello certificati verify ...` checks a certificate offline.
// Neither needs the database.
func (*Module) Commands() []services.Command {
	return []services.Command{
		{Name: "keys", Usage: "keys [list|init|rotate|jwks]", Summary: "manage the key ring of the certificates' digital stamp",
			Run: func(ctx context.Context, env *services.CommandEnv, args []string) error {
				return keysCommand(ctx, env.Config, args, env.Stdout)
			}},
		{Name: "verify", Usage: "verify [--keys FILE] URL|PAYLOAD|FILE.pdf", Summary: "check a certificate's stamp offline",
			Run: func(ctx context.Context, env *services.CommandEnv, args []string) error {
				return verifyCommand(ctx, env.Config, args, env.Stdout)
			}},
	}
}
