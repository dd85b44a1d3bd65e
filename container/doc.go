// Package container runs OCI containers: it gathers the host facts a
// compile needs, starts the compiled child program through the clone core,
// plays the parent's part of the setup protocol (id maps, the network
// devices of linux.netDevices moved in over rtnetlink, release), then
// forwards signals to the container's process, reaps it and returns its
// exit status. Whatever it set up is undone on any failure.
package container
