package main

import "github.com/hashicorp/nomad/api"

// nodeStubOut is a node list entry as Nomad's server writes it: api.NodeListStub
// drops a nil Attributes and lacks HostVolumes; NodeResources and
// ReservedResources are only there for ?resources=true (scenario busy-node).
type nodeStubOut struct {
	*api.NodeListStub
	Attributes        map[string]string
	HostVolumes       map[string]*hostVolumeOut
	NodeResources     *nodeResourcesOut     `json:",omitempty"`
	ReservedResources *reservedResourcesOut `json:",omitempty"`
}

type hostVolumeOut struct {
	*api.HostVolumeInfo
	Name string
}

// nodeResourcesOut adds what Nomad 2.0 fingerprints and api.NodeResources
// lacks: the network interfaces and the CPU topology.
type nodeResourcesOut struct {
	*api.NodeResources
	NodeNetworks []nodeNetworkOut
	Processors   processorsOut
}

type nodeNetworkOut struct {
	Addresses  []nodeNetworkAddressOut
	Device     string
	MacAddress string
	Mode       string
	Speed      int
}

type nodeNetworkAddressOut struct {
	Address, Alias, Family, Gateway, ReservedPorts string
}

type processorsOut struct {
	Topology topologyOut
}

type topologyOut struct {
	Cores                  []coreOut
	Distances              [][]int
	Nodes                  []int
	OverrideTotalCompute   int
	OverrideWitholdCompute int
}

type coreOut struct {
	BaseSpeed, GuessSpeed, ID, MaxSpeed, NodeID, SocketID int
	Disable, Grade                                        bool
}

type reservedResourcesOut struct {
	*api.NodeReservedResources
	Cpu reservedCpuOut
}

type reservedCpuOut struct {
	api.NodeReservedCpuResources
	ReservedCpuCores []uint16
}

func nodeResourcesOutOf(node *api.Node) *nodeResourcesOut {
	n := node.NodeResources
	per := int(n.Cpu.CpuShares) / max(int(n.Cpu.TotalCpuCores), 1)
	out := &nodeResourcesOut{NodeResources: n, NodeNetworks: []nodeNetworkOut{{
		Device: "lo", Mode: "host", Speed: 1000,
		Addresses: []nodeNetworkAddressOut{{Address: "127.0.0.1", Alias: "default", Family: "ipv4"}},
	}}, Processors: processorsOut{Topology: topologyOut{Nodes: []int{0}}}}
	for i := range int(n.Cpu.TotalCpuCores) {
		out.Processors.Topology.Cores = append(out.Processors.Topology.Cores, coreOut{ID: i, BaseSpeed: per, Grade: true})
	}
	return out
}

func nodeStub(n *api.Node, resources bool) nodeStubOut {
	vols := map[string]*hostVolumeOut{}
	for name, v := range n.HostVolumes {
		vols[name] = &hostVolumeOut{v, name}
	}
	out := nodeStubOut{NodeListStub: &api.NodeListStub{
		Address: "127.0.0.1", ID: n.ID, Datacenter: n.Datacenter, Name: n.Name, NodeClass: n.NodeClass,
		NodePool: n.NodePool, Version: nomadVersion, SchedulingEligibility: n.SchedulingEligibility,
		Status: n.Status, Drivers: n.Drivers, CreateIndex: n.CreateIndex, ModifyIndex: n.ModifyIndex,
	}, HostVolumes: vols}
	if resources {
		out.NodeResources = nodeResourcesOutOf(n)
		out.ReservedResources = &reservedResourcesOut{NodeReservedResources: n.ReservedResources, Cpu: reservedCpuOut{n.ReservedResources.Cpu, nil}}
	}
	return out
}

// nodeOut writes the node with the same resources shape as the list.
type nodeOut struct {
	*api.Node
	NodeResources *nodeResourcesOut
}
