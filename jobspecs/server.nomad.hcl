# Nomad Build Service: the stateless API server (REST, MCP, OpenAPI), N replicas.
#
#   nomad job run -var image=registry.example.com/nbs:0.1.0 jobspecs/server.nomad.hcl
#
# The same file is what infra/ (cdktf) registers, passing these variables. The server
# keeps no state: any replica answers any request, so replicas only add availability.
#
# Nomad API access (see jobspecs/README.md):
#   nomad_auth = "workload-identity" (default): `identity { env = true }` puts the task's
#     workload identity in NOMAD_TOKEN; the ACL policy "nbs-server" is attached to this
#     job (job_acl), so no long-lived token exists.
#   nomad_auth = "variable": NOMAD_TOKEN is an ACL token read from the Nomad Variable
#     nomad/jobs/nomad-build-service (item nomad_token), rendered by a template.
# Client tokens (hashed) come from the same Variable, item `clients`; the job waits for
# it to exist, so a server never starts open to anyone. infra/ writes it before the job.

variable "image" {
  type        = string
  description = "Server image (the Dockerfile at the repo root)."
  default     = "nbs:latest"
}

variable "replicas" {
  type    = number
  default = 2
}

variable "namespace" {
  type        = string
  description = "Namespace the server job runs in."
  default     = "default"
}

variable "build_namespace" {
  type        = string
  description = "Namespace the build jobs (nbs-*) are submitted to (NBS_NOMAD_NAMESPACE)."
  default     = "nbs"
}

variable "datacenters" {
  type    = list(string)
  default = ["*"]
}

variable "profile" {
  type        = string
  description = "Build job profile: docker (production) or raw_exec (dev)."
  default     = "docker"

  validation {
    condition     = contains(["docker", "raw_exec"], var.profile)
    error_message = "The profile must be docker or raw_exec."
  }
}

variable "buildah_image" {
  type        = string
  description = "The builder image (images/builder/) where the nodes pull it, as `make builder-image REGISTRY=...` prints it (NBS_BUILDAH_IMAGE)."
  # `nbs builder ref localhost:5000`, the server's own default: the tag is a hash of the image's
  # definition, so it changes with it (test/infra checks that this is this version's).
  default = "localhost:5000/nbs/builder:86d8cd3cebb360e8"
}

variable "cache_volume" {
  type    = string
  default = "buildah-cache"
}

variable "gpu_node_pool" {
  type        = string
  description = "Node pool of the GPU nodes; builds whose tests ask for nvidia/gpu go there."
  default     = "gpu"
}

variable "vault_role" {
  type        = string
  description = "Prefix of the per-client Vault roles (<vault_role>-<client>) build tasks log in with (NBS_VAULT_ROLE); infra/ names the roles and policies the same."
  default     = "nbs-build"
}

variable "source_spool_mb" {
  type        = number
  description = "Each replica's spool for uploaded sources, MB (NBS_SOURCE_SPOOL_MB); the group's ephemeral disk is sized to hold it."
  default     = 2048
}

variable "nomad_auth" {
  type    = string
  default = "workload-identity"

  validation {
    condition     = contains(["workload-identity", "variable"], var.nomad_auth)
    error_message = "The nomad_auth must be workload-identity or variable."
  }
}

variable "nomad_addr" {
  type        = string
  description = "Nomad API address the server uses (NBS_NOMAD_ADDR)."
  # The Nomad agent on the server's own node. $${...} is HCL2's escape: Nomad receives the
  # literal ${attr...} and interpolates it when it places the task. Use https://... on a
  # TLS cluster (and mount its CA), or the Task API socket, see jobspecs/README.md.
  default = "http://$${attr.unique.network.ip-address}:4646"
}

job "nomad-build-service" {
  type        = "service"
  namespace   = var.namespace
  datacenters = var.datacenters

  update {
    max_parallel      = 1
    health_check      = "checks"
    min_healthy_time  = "10s"
    healthy_deadline  = "2m"
    progress_deadline = "5m"
    auto_revert       = true
  }

  group "server" {
    count = var.replicas

    # Give the service registration time to disappear before the task is stopped.
    shutdown_delay = "5s"

    network {
      port "http" {
        to = 8080
      }
    }

    # The upload spool lives in the allocation: a replica lost takes its uploads with it, and the
    # builds waiting for them fail saying so (docs/reference.md: uploaded sources).
    ephemeral_disk {
      size = var.source_spool_mb + 256
    }

    restart {
      attempts = 3
      interval = "5m"
      delay    = "15s"
      mode     = "delay"
    }

    service {
      name     = "nomad-build-service"
      provider = "nomad"
      port     = "http"
      tags     = ["http", "mcp"]

      # Liveness: the process answers. Restart it if it stops answering.
      check {
        name     = "healthz"
        type     = "http"
        path     = "/healthz"
        interval = "10s"
        timeout  = "2s"

        check_restart {
          limit = 3
          grace = "30s"
        }
      }

      # Readiness: the server reaches Nomad. No check_restart: restarting cannot fix an
      # unreachable Nomad, it only gates traffic and deployments.
      check {
        name     = "readyz"
        type     = "http"
        path     = "/readyz"
        interval = "10s"
        timeout  = "3s"
      }
    }

    task "server" {
      driver       = "docker"
      kill_timeout = "30s"

      config {
        image    = var.image
        ports    = ["http"]
        cap_drop = ["all"]
      }

      dynamic "identity" {
        for_each = var.nomad_auth == "workload-identity" ? ["default"] : []
        content {
          env = true
        }
      }

      dynamic "template" {
        for_each = var.nomad_auth == "variable" ? ["token"] : []
        content {
          data        = "NOMAD_TOKEN={{ with nomadVar \"nomad/jobs/nomad-build-service\" }}{{ .nomad_token }}{{ end }}\n"
          destination = "secrets/nomad-token.env"
          env         = true
          change_mode = "restart"
        }
      }

      template {
        data        = "{{ with nomadVar \"nomad/jobs/nomad-build-service\" }}{{ .clients }}{{ end }}\n"
        destination = "secrets/clients.json"
        change_mode = "restart"
        splay       = "30s"
      }

      env {
        NBS_LISTEN           = "0.0.0.0:8080"
        NBS_NOMAD_ADDR       = var.nomad_addr
        NBS_NOMAD_NAMESPACE  = var.build_namespace
        NBS_DATACENTERS      = join(",", var.datacenters)
        NBS_PROFILE          = var.profile
        NBS_BUILDAH_IMAGE    = var.buildah_image
        NBS_CACHE_VOLUME     = var.cache_volume
        NBS_GPU_NODE_POOL    = var.gpu_node_pool
        NBS_VAULT_ROLE       = var.vault_role
        NBS_CLIENTS_FILE     = "$${NOMAD_SECRETS_DIR}/clients.json"
        NBS_SOURCE_DIR       = "$${NOMAD_TASK_DIR}/sources"
        NBS_SOURCE_SPOOL_MB  = var.source_spool_mb
        # Where the nodes fetch this replica's uploads: the allocation's own host address and port.
        NBS_ADVERTISE_URL    = "http://$${NOMAD_ADDR_http}"
      }

      resources {
        cpu    = 200
        memory = 256
      }
    }
  }
}
