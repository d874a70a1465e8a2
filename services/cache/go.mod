module github.com/osirisplane/osiris/services/cache

go 1.26.0

require (
	github.com/osirisplane/osiris/api v0.0.0
	github.com/osirisplane/osiris/platform v0.0.0
)

replace (
	github.com/osirisplane/osiris/api => ../../api
	github.com/osirisplane/osiris/platform => ../../platform
)
