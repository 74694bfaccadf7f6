"""OCI images without a container engine: the image layout writer (`components.oci.layout`, pure) and the
builder of the gateway's image (`components.oci.gateway_image`, an edge: debootstrap, chroot, pip)."""
