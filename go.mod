module github.com/osirisplane/osiris

go 1.26
