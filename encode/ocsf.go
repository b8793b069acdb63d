package encode

import (
	"strconv"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/internal/jsonstr"
)

// OCSFVersion is the version of the Open Cybersecurity Schema Framework that
// [OCSF] writes, as metadata.version carries it.
const OCSFVersion = "1.3.0"

// OCSF writes events as OCSF 1.3.0 events of the API Activity class
// (class_uid 6003, category Application Activity), one JSON object per line.
// The schema is at https://schema.ocsf.io/1.3.0/classes/api_activity; the
// attributes written are the class's required ones and those that carry a
// field of the event:
//
//	OCSF attribute            value
//	activity_id               1 Create for Created, 3 Update for Modified,
//	                          4 Delete for Deleted, 99 Other for every other
//	                          action (Pending, Started, Paused, Resumed, a
//	                          host's own)
//	activity_name             Create, Update, Delete, or the action itself
//	                          when activity_id is 99, as the schema requires
//	category_uid, _name       6, "Application Activity"
//	class_uid, class_name     6003, "API Activity"
//	type_uid, type_name       600300 + activity_id, "API Activity: " activity_name
//	severity_id, severity     1, "Informational"
//	status_id, status         1, "Success": an audit event records an action
//	                          that was taken
//	time                      the timestamp, in milliseconds since the epoch
//	timezone_offset           0: timestamps are UTC
//	message                   the description, omitted when empty
//	metadata.uid              the event's ID
//	metadata.original_time    the timestamp to the microsecond, RFC 3339 UTC
//	metadata.tenant_uid       the account, omitted when empty
//	metadata.version          OCSFVersion
//	metadata.product          name Product, vendor_name Vendor
//	actor.user.name           the user
//	api.operation             the action, as recorded
//	resources[0]              type the resourceKind, name the resourceName
//	                          (omitted when empty)
//	resources[1]              when the event names a configuration: type
//	                          "Configuration", name and version from
//	                          [auditevents.SplitConfiguration] (version
//	                          omitted when there is none)
//	src_endpoint.svc_name     Product: the class requires a source endpoint,
//	                          and an event need not record a network
//	                          address, so the endpoint always names the
//	                          service the action went through
//
// The actor context is written where the class has a place for it, each
// attribute only when the event's field is set:
//
//	src_endpoint.ip           the IP address
//	http_request.user_agent   the user agent
//	api.request.uid           the request ID: the class's own identifier of
//	                          the API request (where OCSF's AWS CloudTrail
//	                          mapping puts CloudTrail's requestID)
//	unmapped.metadata         the metadata, an object with its keys sorted:
//	                          OCSF has no attribute for a host's own facts,
//	                          and "unmapped" is where the schema keeps
//	                          source fields it does not define
//
// An event without actor context is encoded exactly as it was before these
// fields existed.
//
// Strings are escaped as encoding/json escapes them, so an event is always
// one line.
//
// The zero OCSF is ready to use. An OCSF is safe for concurrent use; do not
// change its fields while it is in use.
type OCSF struct {
	// Product is metadata.product.name and src_endpoint.svc_name, the
	// product that recorded the events, such as "Bindplane". Empty means
	// "auditevents".
	Product string
	// Vendor is metadata.product.vendor_name. Empty means "auditevents".
	Vendor string
}

var _ Encoder = OCSF{}

// ContentType returns "application/x-ndjson".
func (OCSF) ContentType() string { return "application/x-ndjson" }

// ocsfActivities maps the documented actions to an OCSF activity_id and
// activity_name; any other action is 99 Other.
var ocsfActivities = map[auditevents.Action]struct {
	id   int
	name string
}{
	auditevents.ActionCreated:  {1, "Create"},
	auditevents.ActionModified: {3, "Update"},
	auditevents.ActionDeleted:  {4, "Delete"},
}

// OCSF class and category of API Activity.
const (
	ocsfCategoryUID = 6
	ocsfClassUID    = 6003
	ocsfOther       = 99
)

// AppendEvent appends e as one OCSF API Activity object, without the line
// feed.
func (o OCSF) AppendEvent(dst []byte, e *auditevents.AuditEvent) []byte {
	product, vendor := or(o.Product, "auditevents"), or(o.Vendor, "auditevents")
	activityID, activityName := ocsfOther, string(e.Action)
	if a, ok := ocsfActivities[e.Action]; ok {
		activityID, activityName = a.id, a.name
	}
	dst = append(dst, `{"activity_id":`...)
	dst = strconv.AppendInt(dst, int64(activityID), 10)
	dst = append(dst, `,"activity_name":`...)
	dst = jsonstr.Append(dst, activityName)
	dst = append(dst, `,"category_uid":`...)
	dst = strconv.AppendInt(dst, ocsfCategoryUID, 10)
	dst = append(dst, `,"category_name":"Application Activity","class_uid":`...)
	dst = strconv.AppendInt(dst, ocsfClassUID, 10)
	dst = append(dst, `,"class_name":"API Activity","type_uid":`...)
	dst = strconv.AppendInt(dst, ocsfClassUID*100+int64(activityID), 10)
	dst = append(dst, `,"type_name":`...)
	dst = jsonstr.Append(dst, "API Activity: "+activityName)
	dst = append(dst, `,"severity_id":1,"severity":"Informational","status_id":1,"status":"Success","time":`...)
	dst = strconv.AppendInt(dst, e.Timestamp.UnixMilli(), 10)
	dst = append(dst, `,"timezone_offset":0`...)
	if e.Description != "" {
		dst = append(dst, `,"message":`...)
		dst = jsonstr.Append(dst, e.Description)
	}
	dst = append(dst, `,"metadata":{"uid":`...)
	dst = jsonstr.Append(dst, e.ID)
	dst = append(dst, `,"original_time":"`...)
	dst = e.Timestamp.UTC().AppendFormat(dst, auditevents.TimestampLayout)
	dst = append(dst, '"')
	if e.Account != "" {
		dst = append(dst, `,"tenant_uid":`...)
		dst = jsonstr.Append(dst, e.Account)
	}
	dst = append(dst, `,"version":"`+OCSFVersion+`","product":{"name":`...)
	dst = jsonstr.Append(dst, product)
	dst = append(dst, `,"vendor_name":`...)
	dst = jsonstr.Append(dst, vendor)
	dst = append(dst, `}},"actor":{"user":{"name":`...)
	dst = jsonstr.Append(dst, e.User)
	dst = append(dst, `}},"api":{"operation":`...)
	dst = jsonstr.Append(dst, string(e.Action))
	if e.RequestID != "" {
		dst = append(dst, `,"request":{"uid":`...)
		dst = jsonstr.Append(dst, e.RequestID)
		dst = append(dst, '}')
	}
	dst = append(dst, '}')
	if e.UserAgent != "" {
		dst = append(dst, `,"http_request":{"user_agent":`...)
		dst = jsonstr.Append(dst, e.UserAgent)
		dst = append(dst, '}')
	}
	dst = append(dst, `,"resources":[{"type":`...)
	dst = jsonstr.Append(dst, string(e.ResourceKind))
	if e.ResourceName != "" {
		dst = append(dst, `,"name":`...)
		dst = jsonstr.Append(dst, e.ResourceName)
	}
	dst = append(dst, '}')
	if e.Configuration != "" {
		name, version := auditevents.SplitConfiguration(e.Configuration)
		dst = append(dst, `,{"type":"Configuration","name":`...)
		dst = jsonstr.Append(dst, name)
		if version != "" {
			dst = append(dst, `,"version":`...)
			dst = jsonstr.Append(dst, version)
		}
		dst = append(dst, '}')
	}
	dst = append(dst, `],"src_endpoint":{`...)
	if e.IPAddress != "" {
		dst = append(dst, `"ip":`...)
		dst = jsonstr.Append(dst, e.IPAddress)
		dst = append(dst, ',')
	}
	dst = append(dst, `"svc_name":`...)
	dst = jsonstr.Append(dst, product)
	dst = append(dst, '}')
	if len(e.Metadata) > 0 {
		dst = append(dst, `,"unmapped":{"metadata":`...)
		dst = auditevents.AppendMetadataJSON(dst, e.Metadata)
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// AppendBatch appends one line per event, each ended by a line feed.
func (o OCSF) AppendBatch(dst []byte, events []auditevents.AuditEvent) []byte {
	return appendLines(dst, events, o.AppendEvent)
}
