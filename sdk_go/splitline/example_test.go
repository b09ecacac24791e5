package splitline_test

import (
	"fmt"

	"github.com/splitline/splitline/sdk_go/core"
	"github.com/splitline/splitline/sdk_go/splitline"
)

// A snapshot as the control plane writes it (proto3 JSON); short enum names
// and variants without ranges are accepted, as in snapshot files.
const exampleSnapshot = `{
  "revision": "1",
  "layers": [{"id": "checkout"}],
  "experiments": [{
    "key": "checkout_v2", "layerId": "checkout", "unitType": "user_id", "status": "RUNNING",
    "ranges": [{"start": 0, "end": 10000}],
    "variants": [{"key": "control", "weight": 5000, "params": {"button": "blue"}},
                 {"key": "treatment", "weight": 5000, "params": {"button": "green"}}],
    "rules": [{"attribute": "country", "operator": "IN", "values": ["US", "CA"]},
              {"attribute": "app_version", "operator": "SEMVER_GTE", "values": ["2.0"]}]
  }]
}`

func Example() {
	snap, err := core.LoadSnapshotJSON([]byte(exampleSnapshot))
	if err != nil {
		panic(err)
	}
	client := splitline.NewLocal(snap, splitline.LocalOptions{})
	defer client.Close()

	units := map[string]string{"user_id": "12345"}
	attrs := core.EncodeAttributes(map[string]any{"country": "US", "app_version": "2.1.0", "beta": true})
	a := client.Assign("checkout_v2", units, attrs)
	fmt.Println(a.Variant, a.Reason, a.Params.GetFields()["button"].GetStringValue())

	a = client.Assign("checkout_v2", units, map[string]string{"country": "FR"})
	fmt.Printf("%q %s\n", a.Variant, a.Reason)
	// Output:
	// treatment ASSIGNED green
	// "" NOT_ELIGIBLE
}
