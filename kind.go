package auditevents

import (
	"fmt"
	"strings"
)

// Kind is the kind of resource an event is about: one of the values of the
// spec's model.Kind enum, such as [KindConfiguration]. The zero Kind is not
// valid; [KindUnknown] is the spec's own value for a resource of no known kind.
//
// Kind marshals to and from JSON and text as its name. Unmarshalling rejects a
// name that is not one of [Kinds] with an error wrapping [ErrUnknownKind], so
// a misspelled kind never reaches a store.
type Kind string

// The resource kinds of the API, in the order of the spec's enum.
const (
	KindConfiguration              Kind = "Configuration"
	KindAgent                      Kind = "Agent"
	KindAgentType                  Kind = "AgentType"
	KindAgentVersion               Kind = "AgentVersion"
	KindSource                     Kind = "Source"
	KindProcessor                  Kind = "Processor"
	KindConnector                  Kind = "Connector"
	KindDestination                Kind = "Destination"
	KindExtension                  Kind = "Extension"
	KindSourceType                 Kind = "SourceType"
	KindProcessorType              Kind = "ProcessorType"
	KindConnectorType              Kind = "ConnectorType"
	KindDestinationType            Kind = "DestinationType"
	KindExtensionType              Kind = "ExtensionType"
	KindRecommendationType         Kind = "RecommendationType"
	KindUnknown                    Kind = "Unknown"
	KindRollout                    Kind = "Rollout"
	KindRolloutType                Kind = "RolloutType"
	KindOrganization               Kind = "Organization"
	KindAccount                    Kind = "Account"
	KindInvitation                 Kind = "Invitation"
	KindLogin                      Kind = "Login"
	KindUser                       Kind = "User"
	KindAccountOrganizationBinding Kind = "AccountOrganizationBinding"
	KindUserOrganizationBinding    Kind = "UserOrganizationBinding"
	KindUserAccountBinding         Kind = "UserAccountBinding"
	KindAuditTrail                 Kind = "AuditTrail"
	KindAvailableComponents        Kind = "AvailableComponents"
	KindSecretsManagerType         Kind = "SecretsManagerType"
	KindSecretsManager             Kind = "SecretsManager"
	KindRecording                  Kind = "Recording"
	KindCredential                 Kind = "Credential"
	KindCredentialType             Kind = "CredentialType"
	KindFleet                      Kind = "Fleet"
	KindIntegration                Kind = "Integration"
	KindIntegrationType            Kind = "IntegrationType"
	KindConfigurationType          Kind = "ConfigurationType"
	KindNotification               Kind = "Notification"
	KindRecommendation             Kind = "Recommendation"
	KindPublicProcessor            Kind = "PublicProcessor"
	KindBlueprint                  Kind = "Blueprint"
	KindPrometheusRule             Kind = "PrometheusRule"
	KindAPIKey                     Kind = "APIKey"
	KindResourcePreset             Kind = "ResourcePreset"
)

// kinds lists every Kind in the order of the spec's enum. New kinds are only
// ever appended.
var kinds = [...]Kind{
	KindConfiguration,
	KindAgent,
	KindAgentType,
	KindAgentVersion,
	KindSource,
	KindProcessor,
	KindConnector,
	KindDestination,
	KindExtension,
	KindSourceType,
	KindProcessorType,
	KindConnectorType,
	KindDestinationType,
	KindExtensionType,
	KindRecommendationType,
	KindUnknown,
	KindRollout,
	KindRolloutType,
	KindOrganization,
	KindAccount,
	KindInvitation,
	KindLogin,
	KindUser,
	KindAccountOrganizationBinding,
	KindUserOrganizationBinding,
	KindUserAccountBinding,
	KindAuditTrail,
	KindAvailableComponents,
	KindSecretsManagerType,
	KindSecretsManager,
	KindRecording,
	KindCredential,
	KindCredentialType,
	KindFleet,
	KindIntegration,
	KindIntegrationType,
	KindConfigurationType,
	KindNotification,
	KindRecommendation,
	KindPublicProcessor,
	KindBlueprint,
	KindPrometheusRule,
	KindAPIKey,
	KindResourcePreset,
}

// kindSet answers "is this a Kind" without a linear scan.
var kindSet = func() map[Kind]struct{} {
	m := make(map[Kind]struct{}, len(kinds))
	for _, k := range kinds {
		m[k] = struct{}{}
	}
	return m
}()

// Kinds returns every valid Kind, in the order of the spec's enum. The caller
// may modify the returned slice.
func Kinds() []Kind {
	out := make([]Kind, len(kinds))
	copy(out, kinds[:])
	return out
}

// ParseKind returns the Kind named s. Names are case-sensitive, as in the
// spec. An unknown name returns an error that wraps [ErrUnknownKind] and
// repeats the name.
func ParseKind(s string) (Kind, error) {
	k := Kind(s)
	if !k.Valid() {
		return "", fmt.Errorf("%w %s", ErrUnknownKind, quote(s))
	}
	return k, nil
}

// Valid reports whether k is one of [Kinds].
func (k Kind) Valid() bool {
	_, ok := kindSet[k]
	return ok
}

// String returns the name of k.
func (k Kind) String() string { return string(k) }

// MarshalText returns the name of k. It fails, wrapping [ErrUnknownKind], when
// k is not valid, so that an invalid kind is never written out.
func (k Kind) MarshalText() ([]byte, error) {
	if !k.Valid() {
		return nil, fmt.Errorf("%w %s", ErrUnknownKind, quote(string(k)))
	}
	return []byte(k), nil
}

// UnmarshalText sets k to the Kind named by text, or returns an error
// wrapping [ErrUnknownKind].
func (k *Kind) UnmarshalText(text []byte) error {
	parsed, err := ParseKind(string(text))
	if err != nil {
		return err
	}
	*k = parsed
	return nil
}

// kindNames is the list of kinds for error messages, computed once.
var kindNames = func() string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}()
