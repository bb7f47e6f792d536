package contracts_test

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v2"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/messaging"
)

// asyncAPIFile is the document the contracts must match.
const asyncAPIFile = "../../docs/asyncapi.yaml"

type schema struct {
	Ref        string            `yaml:"$ref"`
	Type       string            `yaml:"type"`
	Format     string            `yaml:"format"`
	Required   []string          `yaml:"required"`
	Properties map[string]schema `yaml:"properties"`
	Items      *schema           `yaml:"items"`
	Enum       []string          `yaml:"enum"`
}

type asyncAPI struct {
	AsyncAPI string `yaml:"asyncapi"`
	Channels map[string]struct {
		Address  string `yaml:"address"`
		Messages map[string]struct {
			Ref string `yaml:"$ref"`
		} `yaml:"messages"`
	} `yaml:"channels"`
	Operations map[string]struct {
		Action  string `yaml:"action"`
		Channel struct {
			Ref string `yaml:"$ref"`
		} `yaml:"channel"`
	} `yaml:"operations"`
	Components struct {
		Messages map[string]struct {
			Name    string `yaml:"name"`
			Payload schema `yaml:"payload"`
			Headers schema `yaml:"headers"`
		} `yaml:"messages"`
		Schemas map[string]schema `yaml:"schemas"`
	} `yaml:"components"`
}

func loadAsyncAPI(t *testing.T) *asyncAPI {
	t.Helper()
	raw, err := os.ReadFile(filepath.FromSlash(asyncAPIFile))
	if err != nil {
		t.Fatal(err)
	}
	var doc asyncAPI
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", asyncAPIFile, err)
	}
	if doc.AsyncAPI != "3.0.0" {
		t.Fatalf("%s: asyncapi %q, want 3.0.0", asyncAPIFile, doc.AsyncAPI)
	}
	return &doc
}

// payloads are every message type of shared/contracts, with the channel
// (broker address) it travels on.
var payloads = map[string]struct {
	value   contracts.Contract
	address string
}{
	"BookRoom":              {contracts.BookRoom{}, messaging.BookRoomQueue},
	"BookingConfirmed":      {contracts.BookingConfirmed{}, messaging.EventTopic(messaging.EventBookingConfirmed)},
	"BookingRejected":       {contracts.BookingRejected{}, messaging.EventTopic(messaging.EventBookingRejected)},
	"VoucherCreated":        {contracts.VoucherCreated{}, messaging.EventTopic(messaging.EventVoucherCreated)},
	"ConfirmationEmailSent": {contracts.ConfirmationEmailSent{}, messaging.EventTopic(messaging.EventConfirmationEmailSent)},
	"CustomerNotified":      {contracts.CustomerNotified{}, messaging.EventTopic(messaging.EventCustomerNotified)},
	"TaskFailed":            {contracts.TaskFailed{}, messaging.EventTopic(messaging.EventTaskFailed)},
	"BookingStatusChanged":  {contracts.BookingStatusChanged{}, messaging.NotificationsExchange},
	"FaultChanged":          {contracts.FaultChanged{}, messaging.ControlExchange},
}

// schemaProblems compares a Go type with its JSON schema: the same
// properties as the JSON tags, required exactly when not omitempty, and
// types that agree. Nested structs follow their $ref.
func schemaProblems(doc *asyncAPI, where string, typ reflect.Type, s schema) []string {
	if s.Ref != "" {
		name := strings.TrimPrefix(s.Ref, "#/components/schemas/")
		ref, ok := doc.Components.Schemas[name]
		if !ok {
			return []string{where + ": $ref " + s.Ref + " is not in components.schemas"}
		}
		return schemaProblems(doc, where+" ("+name+")", typ, ref)
	}
	timeType := reflect.TypeFor[time.Time]()
	switch {
	case typ == timeType:
		if s.Type != "string" || s.Format != "date-time" {
			return []string{where + ": a time.Time must be a string of format date-time"}
		}
		return nil
	case typ.Kind() == reflect.String:
		if s.Type != "string" && len(s.Enum) == 0 {
			return []string{where + ": want type string, have " + s.Type}
		}
		return nil
	case typ.Kind() >= reflect.Int && typ.Kind() <= reflect.Uint64:
		if s.Type != "integer" {
			return []string{where + ": want type integer, have " + s.Type}
		}
		return nil
	case typ.Kind() == reflect.Float32 || typ.Kind() == reflect.Float64:
		if s.Type != "number" {
			return []string{where + ": want type number, have " + s.Type}
		}
		return nil
	case typ.Kind() == reflect.Bool:
		if s.Type != "boolean" {
			return []string{where + ": want type boolean, have " + s.Type}
		}
		return nil
	case typ.Kind() == reflect.Slice:
		if s.Type != "array" || s.Items == nil {
			return []string{where + ": want an array with items"}
		}
		return schemaProblems(doc, where+"[]", typ.Elem(), *s.Items)
	case typ.Kind() != reflect.Struct:
		return []string{where + ": no rule for Go kind " + typ.Kind().String()}
	}
	if s.Type != "object" {
		return []string{where + ": want type object, have " + s.Type}
	}
	var out []string
	var required []string
	seen := map[string]bool{}
	for f := range typ.Fields() {
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		seen[name] = true
		if !strings.Contains(opts, "omitempty") {
			required = append(required, name)
		}
		prop, ok := s.Properties[name]
		if !ok {
			out = append(out, where+": field "+name+" is not in the schema")
			continue
		}
		out = append(out, schemaProblems(doc, where+"."+name, f.Type, prop)...)
	}
	for name := range s.Properties {
		if !seen[name] {
			out = append(out, where+": the schema has "+name+", the Go type does not")
		}
	}
	slices.Sort(required)
	have := slices.Clone(s.Required)
	slices.Sort(have)
	if !slices.Equal(required, have) {
		out = append(out, where+": required "+strings.Join(have, ",")+", want the fields without omitempty: "+strings.Join(required, ","))
	}
	return out
}

func TestAsyncAPI_EveryContractMatchesItsSchemaAndChannel(t *testing.T) {
	t.Parallel()
	doc := loadAsyncAPI(t)
	for name, p := range payloads {
		if p.value.SchemaName() != name {
			t.Errorf("%T is named %q, want %q", p.value, p.value.SchemaName(), name)
		}
		msg, ok := doc.Components.Messages[name]
		if !ok || msg.Name != name {
			t.Errorf("components.messages has no message named %s", name)
			continue
		}
		for _, problem := range schemaProblems(doc, name, reflect.TypeOf(p.value), msg.Payload) {
			t.Error(problem)
		}
		var channels []string
		for _, ch := range doc.Channels {
			for _, m := range ch.Messages {
				if m.Ref == "#/components/messages/"+name {
					channels = append(channels, ch.Address)
				}
			}
		}
		if !slices.Equal(channels, []string{p.address}) {
			t.Errorf("%s travels on %s; the document's channels for it: %v", name, p.address, channels)
		}
	}
	if len(doc.Components.Messages) != len(payloads) {
		t.Errorf("the document has %d messages, shared/contracts %d: describe each type once", len(doc.Components.Messages), len(payloads))
	}
	// Every metadata key NewMessage sets is a documented header.
	headers := doc.Components.Schemas["Metadata"]
	for _, key := range []string{contracts.SchemaNameKey, contracts.SchemaVersionKey, contracts.ProducedAtKey, contracts.CorrelationIDKey, "traceparent"} {
		if _, ok := headers.Properties[key]; !ok {
			t.Errorf("message header %q is not in components.schemas.Metadata", key)
		}
	}
	// Every event exchange has a channel, received by exactly its subscribers.
	for _, ev := range messaging.Events {
		want := []string{}
		for _, s := range messaging.Subscriptions {
			if s.Event == ev {
				want = append(want, s.Service)
			}
		}
		if _, ok := payloads[ev]; !ok {
			t.Errorf("event %s has no contract in this test: add it", ev)
		}
		receivers := 0
		for _, op := range doc.Operations {
			for key, ch := range doc.Channels {
				if op.Channel.Ref == "#/channels/"+key && ch.Address == messaging.EventTopic(ev) && op.Action == "receive" {
					receivers++
				}
			}
		}
		if receivers != len(want) {
			t.Errorf("%s: %d receive operations in the document, %d subscribers (%v) in shared/messaging", ev, receivers, len(want), want)
		}
	}
}

func TestSchemaProblems_CatchATypeThatDrifted(t *testing.T) {
	t.Parallel()
	doc := loadAsyncAPI(t)
	type drifted struct {
		BookingID  string    `json:"booking_id"`
		Task       int       `json:"task"`             // a string in the schema
		Reason     string    `json:"reason,omitempty"` // required in the schema
		FailedAt   time.Time `json:"failed_at"`
		RetryCount int       `json:"retry_count"` // not in the schema
	}
	problems := schemaProblems(doc, "TaskFailed", reflect.TypeFor[drifted](), doc.Components.Messages["TaskFailed"].Payload)
	for _, want := range []string{"task: want type integer, have string", "field retry_count is not in the schema", "required"} {
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, want) }) {
			t.Errorf("not caught: %s (problems: %v)", want, problems)
		}
	}
}
